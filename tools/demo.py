# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: a gateway started the way upstream starts it, where upstream's defaults fail,
measured before and after the collection tunes it.

The gateway (installed by the mcpgateway.tuning.install playbook in .build/demo/gateway, which
later runs reuse) starts as upstream's image and run-gunicorn.sh start it: workers from nproc
(2 x CPUs + 1, at most 16), preload, timeout 600, max_requests 100000 (jitter 100), and the
gateway's own pools, DB_POOL_SIZE 200 and DB_MAX_OVERFLOW 10 per worker. Rate limiting is off,
only because a load test from one client would measure the limiter. It runs inside a cgroup of
1.5 CPUs and 1 GiB (a small VM or container; nproc still shows every CPU of the host), on a
throwaway PostgreSQL with max_connections 100 whose gateway role may open 20 sessions, as a small
managed database plan would allow.

The mcpgateway.tuning.site playbook then benchmarks it with hey, tunes it, and benchmarks it
again. The demo prints a headline from what was measured, then the report, and writes
.build/demo/summary.json beside the report's Markdown, JSON and PNG. Everything it starts is
stopped by PID at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO_ROOT, ".build")
COLLECTIONS = os.path.join(BUILD, "collections")


def collections_root():
    """This checkout as the installed collection mcpgateway.tuning, for the playbooks and the imports."""
    link = os.path.join(COLLECTIONS, "ansible_collections", "mcpgateway", "tuning")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO_ROOT, link)
    return COLLECTIONS


# The test harness (tests/harness) starts the demo's server and gateway as it does the tests'; the
# benchmark arithmetic is the collection's own. The link must exist before the first import: Python
# remembers a folder of sys.path that was missing then, on a fresh clone.
sys.path[:0] = [os.path.join(REPO_ROOT, "tests"), collections_root()]

from harness.cgroups import CgroupUnavailable, LimitedCgroup  # noqa: E402 pylint: disable=wrong-import-position
from harness.local_gateway import GatewayError, LocalGateway  # noqa: E402 pylint: disable=wrong-import-position
from harness.throwaway import PostgresServer  # noqa: E402 pylint: disable=wrong-import-position

REPORT_DIR = os.path.join(BUILD, "demo")
HOST = "local-gateway"
MIB = 1024 ** 2
# A small VM or container, as the tuning guide lists for small deployments.
LIMIT_CPUS = 1.5
LIMIT_MEMORY = 1024 * MIB
# A small managed database: the server takes 100 sessions, the application's role 20 of them.
MAX_CONNECTIONS = 100
ROLE_CONNECTION_LIMIT = 20

# hey from 100 clients, as a burst of agents would call; runs long enough for a median, a warm-up
# first (a gateway just started serves its first rounds slower: never measure a cold start). About
# two minutes a phase on the 2-vCPU test machine.
DEMO_BENCHMARK = {"benchmark_runs": 3, "benchmark_requests": 600, "benchmark_concurrency": 100,
                  "benchmark_warmup_requests": 300, "benchmark_warmup_rounds": 4, "benchmark_timeout": 30}

# Upstream's run-gunicorn.sh and gunicorn.config.py, as the image runs them: the settings the
# "before" phase measures. The install playbook keeps a configuration it finds.
UPSTREAM_GUNICORN = '''\
# What upstream's image runs (run-gunicorn.sh and gunicorn.config.py): the demo's "before".
import os

bind = "%%s:%%s" %% (os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "4444"))
# GUNICORN_WORKERS=auto: nproc x 2 + 1, at most 16.
workers = %(workers)d
worker_class = "uvicorn_worker.UvicornWorker"
timeout = 600
max_requests = 100000
max_requests_jitter = 100
preload_app = True
reuse_port = True
control_socket_disable = True
accesslog = None


def post_fork(server, worker):
    # As upstream's gunicorn.config.py: workers do not share the master's database connections.
    from mcpgateway.db import engine
    engine.dispose(close=False)
'''


def upstream_workers():
    """What run-gunicorn.sh computes from nproc: the CPUs this process may run on, not its cgroup's."""
    return min(2 * len(os.sched_getaffinity(0)) + 1, 16)


def start_with_upstream_settings(gateway, workers):
    """Start from upstream's settings every time: an earlier demo left a tuned configuration."""
    for name in ("tuning.env", "granian.env", "gunicorn.conf.py"):
        path = os.path.join(gateway.config_dir, name)
        if os.path.exists(path):
            os.remove(path)
    os.makedirs(gateway.config_dir, exist_ok=True)
    with open(os.path.join(gateway.config_dir, "gunicorn.conf.py"), "w") as handle:
        handle.write(UPSTREAM_GUNICORN % {"workers": workers})


def restart_inside(gateway, cgroup):
    """Restart supervisord inside the cgroup: the gateway it starts, and restarts after the tuning,
    inherit the limits."""
    gateway.stop()
    supervisord = [os.path.join(gateway.venv, "bin", "supervisord"), "-c",
                   os.path.join(gateway.config_dir, "supervisord.conf")]
    subprocess.run(cgroup.wrap(supervisord) if cgroup else supervisord, check=True, timeout=60)
    if not gateway.wait_ready(180):
        raise GatewayError("the gateway did not answer /ready within 180 s after its restart")


def read_json(report_dir, name):
    with open(os.path.join(report_dir, name)) as handle:
        return json.load(handle)


def summarize(report_dir, workers_before, limit_text, load):
    """summary.json from the site playbook's reports, and the headline."""
    from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.benchmark import (  # pylint: disable=import-outside-toplevel
        headline,
        phase_figures,
    )
    benchmark = read_json(report_dir, HOST + ".benchmark.json")
    tuning = read_json(report_dir, HOST + ".tune.json")
    before = phase_figures(benchmark["phases"]["before"], workers_before)
    after = phase_figures(benchmark["phases"]["after"], tuning["settings"]["workers"])
    comparison = benchmark["comparison"]
    summary = {
        "before": before, "after": after,
        "verdict": comparison["verdict"], "verdicts": comparison["verdicts"], "reasons": comparison["reasons"],
        "limit": limit_text,
        "database": {"max_connections": MAX_CONNECTIONS, "role_connection_limit": ROLE_CONNECTION_LIMIT},
        "load": dict((key.replace("benchmark_", ""), value) for key, value in load.items()),
        "tuned": {"server": tuning["server"], "profile": tuning["profile"], "capacity": tuning["capacity"],
                  "settings": tuning["settings"], "reasons": tuning["reasons"]},
        "diagnoses": benchmark["diagnoses"],
        "reports": sorted(name for name in os.listdir(report_dir) if name.startswith(HOST + ".benchmark.")),
    }
    summary["headline"] = headline(before, after, "Before (upstream defaults)", "After (tuned)")
    return summary


def run_demo(database_password, folder, report_dir, load):
    """Install (or reuse) the gateway in folder, measure, tune and measure it with load (the
    benchmark role's variables); the reports go to report_dir. Returns the summary."""
    workers = upstream_workers()
    with PostgresServer(settings={"max_connections": MAX_CONNECTIONS}) as postgres:
        postgres.sql("CREATE ROLE mcp LOGIN PASSWORD '%s' CONNECTION LIMIT %d"
                     % (database_password, ROLE_CONNECTION_LIMIT))
        postgres.sql("CREATE DATABASE mcp OWNER mcp")
        gateway = LocalGateway(folder, collections_root(), extra_vars={
            "gateway_database_url": postgres.url("mcp", database_password, "mcp", driver="psycopg"),
            "gateway_cache_type": "database",
            "gateway_workers": workers,
            "gateway_extra_env": {"RATE_LIMITING_ENABLED": "false", "DB_POOL_SIZE": "200", "DB_MAX_OVERFLOW": "10"},
        })
        start_with_upstream_settings(gateway, workers)
        cgroup = LimitedCgroup("mcpgw-demo-%s" % uuid.uuid4().hex[:8], cpus=LIMIT_CPUS, memory_bytes=LIMIT_MEMORY)
        try:
            cgroup.create()
            limit_text = "a cgroup of %s CPUs and %d MiB" % (LIMIT_CPUS, LIMIT_MEMORY // MIB)
        except CgroupUnavailable as reason:
            cgroup = None
            limit_text = "no limit (%s): the whole machine" % reason
        try:
            print("Installing the gateway (Python %s, PostgreSQL on loopback) with upstream's settings: %d workers "
                  "(nproc x 2 + 1), pools 200 + 10 per worker ..." % (gateway.python, workers), flush=True)
            if gateway.playbook().returncode != 0:
                sys.exit("the install playbook failed: see its output above")
            print("Restarting it inside %s ..." % limit_text, flush=True)
            restart_inside(gateway, cgroup)
            print("Benchmarking it with hey, tuning it, and benchmarking it again (the site playbook) ...", flush=True)
            site_vars = dict(load, tune_report_dir=report_dir, benchmark_report_dir=report_dir,
                             # The watch counts the gateway role's sessions as the superuser, over the
                             # cluster's socket: it takes none of the role's 20.
                             benchmark_database_watch_url="host=%s port=%d user=postgres dbname=postgres"
                             % (postgres.socket_dir, postgres.port),
                             benchmark_database_watch_role="mcp")
            if gateway.playbook(playbook="mcpgateway.tuning.site", extra_vars=site_vars).returncode != 0:
                sys.exit("the site playbook failed: see its output above")
        finally:
            gateway.stop()
            if cgroup:
                cgroup.remove()
        left = gateway.processes_left()
        if left:
            sys.exit("processes of the gateway are left after supervisord stopped: %s" % left)
    return summarize(report_dir, workers, limit_text, load)


def main():
    os.makedirs(REPORT_DIR, exist_ok=True)
    for name in os.listdir(REPORT_DIR):
        if name.startswith(HOST + ".") or name in ("summary.json", "report.txt"):
            os.remove(os.path.join(REPORT_DIR, name))
    started = time.monotonic()
    try:
        summary = run_demo(secrets.token_urlsafe(18), os.path.join(REPORT_DIR, "gateway"), REPORT_DIR,
                           DEMO_BENCHMARK)
    except GatewayError as reason:
        sys.exit("the local gateway failed: %s" % reason)
    summary["seconds"] = round(time.monotonic() - started)
    with open(os.path.join(REPORT_DIR, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    with open(os.path.join(REPORT_DIR, HOST + ".benchmark.md")) as handle:
        report = handle.read().rstrip("\n")
    text = "\n".join([
        summary["headline"], "",
        "The gateway ran inside %s, on PostgreSQL with max_connections %d and %d sessions for its role; hey sent "
        "%d runs of %d requests from %d clients after a warm-up (JSON-RPC tools/list)."
        % (summary["limit"], MAX_CONNECTIONS, ROLE_CONNECTION_LIMIT, DEMO_BENCHMARK["benchmark_runs"],
           DEMO_BENCHMARK["benchmark_requests"], DEMO_BENCHMARK["benchmark_concurrency"]),
        "Why %d workers after: %s" % (summary["after"]["workers"], summary["tuned"]["reasons"]["workers"]),
        "", report, "",
        "Demo done in %d min %02d s. Reports in %s: summary.json, %s." % (
            summary["seconds"] // 60, summary["seconds"] % 60, os.path.relpath(REPORT_DIR, os.getcwd()),
            ", ".join(summary["reports"])),
    ])
    with open(os.path.join(REPORT_DIR, "report.txt"), "w") as handle:
        handle.write(text + "\n")
    print("\n" + "=" * 100 + "\n" + text + "\n" + "=" * 100)


if __name__ == "__main__":
    main()
