# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: probe this machine, a throwaway Redis and a throwaway PostgreSQL with the
mcpgateway.tuning.probe playbook, run a local gateway on its embedded defaults, and print the
report.

As root on a cgroup v1 host it also runs the capacity probe inside a cgroup limited to
1.5 CPUs and 1.5 GiB, to show what Ansible's facts miss. The local gateway (SQLite, in-memory
cache, under supervisord, as the account running the demo) is installed by the
mcpgateway.tuning.install playbook in .build/demo/gateway, which later runs reuse. Everything
the demo starts is stopped by PID at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The test harness (tests/harness) starts the demo's servers and gateway as it does the tests'.
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))

from harness.cgroups import CgroupUnavailable, LimitedCgroup  # noqa: E402 pylint: disable=wrong-import-position
from harness.local_gateway import GatewayError, LocalGateway  # noqa: E402 pylint: disable=wrong-import-position
from harness.throwaway import PostgresServer, RedisServer  # noqa: E402 pylint: disable=wrong-import-position

BUILD = os.path.join(REPO_ROOT, ".build")
REPORT_DIR = os.path.join(BUILD, "demo")
GIB = 1024 ** 3


def ansible_environment():
    collections = os.path.join(BUILD, "collections")
    link = os.path.join(collections, "ansible_collections", "mcpgateway", "tuning")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO_ROOT, link)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1",
               ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")
    return env


def write_inventory(folder, host):
    path = os.path.join(folder, "inventory.yml")
    with open(path, "w") as handle:
        handle.write("mcpgateway:\n  hosts:\n    %s:\n      ansible_connection: local\n"
                     "      ansible_python_interpreter: %s\n" % (host, sys.executable))
    return path


def run_probe(inventory, extra_vars, wrap=None):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               "mcpgateway.tuning.probe"]
    for name, value in sorted(extra_vars.items()):
        command += ["-e", "%s=%s" % (name, value)]
    if wrap:
        command = wrap(command)
    completed = subprocess.run(command, env=ansible_environment(), check=False)
    if completed.returncode != 0:
        sys.exit("the probe playbook failed (rc=%d)" % completed.returncode)


def read_report(host):
    with open(os.path.join(REPORT_DIR, host + ".txt")) as handle:
        return handle.read()


def probe_in_small_cgroup(folder, probe_vars):
    """The same probe from inside a cgroup of 1.5 CPUs and 1.5 GiB (root on cgroup v1 only)."""
    small_vm = LimitedCgroup("mcpgw-demo-%s" % uuid.uuid4().hex[:8], cpus=1.5, memory_bytes=3 * GIB // 2)
    try:
        small_vm.create()
    except CgroupUnavailable as reason:
        return "(skipped the 1.5 CPU / 1.5 GiB cgroup demonstration: %s)" % reason
    try:
        print("\nThe same probe inside a cgroup limited to 1.5 CPUs and 1.5 GiB ...", flush=True)
        run_probe(write_inventory(folder, "small-vm-cgroup"), probe_vars, wrap=small_vm.wrap)
        return read_report("small-vm-cgroup")
    finally:
        small_vm.remove()


# Big enough for a median that means something on SQLite, small enough for a demo of minutes. The
# warm-up sends rounds of 300 requests while they get faster: the gateway's first round after a
# start here served a fifth to a half less than the rounds after it, with 2 workers as with 5.
DEMO_BENCHMARK = {"benchmark_runs": 3, "benchmark_requests": 600, "benchmark_concurrency": 20,
                  "benchmark_warmup_requests": 300, "benchmark_warmup_rounds": 6}


def serve_local_gateway():
    """Install a gateway on this machine on its defaults, check that it serves, then run the site
    playbook (benchmark, tune, benchmark again) and stop it; return the report."""
    # Load tests measure the gateway, not its per-client rate limiter.
    gateway = LocalGateway(os.path.join(REPORT_DIR, "gateway"), ansible_environment()["ANSIBLE_COLLECTIONS_PATH"],
                           extra_vars={"gateway_extra_env": {"RATE_LIMITING_ENABLED": "false"}})
    # Start from the embedded defaults every time: the install playbook writes the starting server
    # configuration only where there is none, and an earlier demo left a tuned one.
    for name in ("tuning.env", "gunicorn.conf.py", "granian.env"):
        if os.path.exists(os.path.join(gateway.config_dir, name)):
            os.remove(os.path.join(gateway.config_dir, name))
    print("\nInstalling a local gateway under supervisord (SQLite, in-memory cache) with Python %s ..."
          % gateway.python, flush=True)
    started = time.monotonic()
    try:
        if gateway.playbook().returncode != 0:
            sys.exit("the install playbook failed: see its output above")
        installed = time.monotonic() - started
        ready_status, ready_body = gateway.request("/ready")
        ping_status, ping_body = gateway.request("/rpc", {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                                 token=gateway.token())
        anonymous_status = gateway.request("/rpc", {"jsonrpc": "2.0", "id": 2, "method": "ping"})[0]

        print("\nBenchmarking it with hey, tuning it, and benchmarking it again (the site playbook) ...", flush=True)
        started = time.monotonic()
        site_vars = dict(tune_report_dir=os.path.abspath(REPORT_DIR),
                         benchmark_report_dir=os.path.abspath(REPORT_DIR), **DEMO_BENCHMARK)
        if gateway.playbook(playbook="mcpgateway.tuning.site", extra_vars=site_vars).returncode != 0:
            sys.exit("the site playbook failed: see its output above")
        tuned = time.monotonic() - started
        with open(os.path.join(REPORT_DIR, "local-gateway.tune.json")) as handle:
            tuning = json.load(handle)
        with open(os.path.join(REPORT_DIR, "local-gateway.benchmark.md")) as handle:
            benchmark = handle.read().rstrip("\n")
        tuned_ready = gateway.request("/ready")[0]
    finally:
        gateway.stop()
    left = gateway.processes_left()
    return "\n".join([
        "local gateway: %s under supervisord, as %s, in %s" % (gateway.url, gateway.account,
                                                               os.path.relpath(gateway.folder, os.getcwd())),
        "  Installed and ready in %.0f s (2 Gunicorn workers with Uvicorn, SQLite, CACHE_TYPE=memory)" % installed,
        "  /ready            HTTP %d %s" % (ready_status, (ready_body or {}).get("status")),
        "  JSON-RPC ping     HTTP %d with a token minted by the gateway's own tool: %s"
        % (ping_status, "result" if "result" in (ping_body or {}) else "error %s" % (ping_body or {}).get("error")),
        "  Without a token   HTTP %d" % anonymous_status,
        "  Benchmarked, tuned and benchmarked again in %.0f s, for %s CPUs and %s MiB (%s profile): %s with %d "
        "workers" % (tuned, tuning["capacity"]["cpus"], tuning["capacity"]["memory_mib"], tuning["profile"],
                     tuning["server"], tuning["settings"]["workers"]),
        "  Why %d workers: %s" % (tuning["settings"]["workers"], tuning["reasons"]["workers"]),
        "  /ready after the tuning HTTP %d" % tuned_ready,
        "  Stopped by supervisord's PID; %s" % ("no process left" if not left else "processes left: %s" % left),
        "",
        "Before and after (hey, %(benchmark_runs)d runs of %(benchmark_requests)d requests, %(benchmark_concurrency)d "
        "clients, JSON-RPC tools/list):" % DEMO_BENCHMARK,
        "",
        benchmark,
    ])


def main():
    os.makedirs(REPORT_DIR, exist_ok=True)
    redis_password = secrets.token_urlsafe(18)
    database_password = secrets.token_urlsafe(18)
    reports = []
    with tempfile.TemporaryDirectory(prefix="mcpgw-demo-") as folder:
        print("Starting a throwaway Redis and PostgreSQL on loopback ...", flush=True)
        with RedisServer(password=redis_password, maxclients=200) as redis_server, \
                PostgresServer(settings={"max_connections": 100}) as postgres_server:
            postgres_server.sql("CREATE ROLE mcp LOGIN PASSWORD '%s' CONNECTION LIMIT 60" % database_password)
            postgres_server.sql("CREATE DATABASE mcp OWNER mcp")
            probe_vars = {
                "mcpgateway_redis_url": redis_server.url(None, redis_password),
                "mcpgateway_database_url": postgres_server.url("mcp", database_password, "mcp", driver="psycopg")
                + "?sslmode=disable",
                "mcpgateway_probe_report_dir": REPORT_DIR,
            }
            run_probe(write_inventory(folder, "this-machine"), probe_vars)
            reports.append(read_report("this-machine"))
            reports.append(probe_in_small_cgroup(folder, probe_vars))
    try:
        reports.append(serve_local_gateway())
    except GatewayError as reason:
        sys.exit("the local gateway failed: %s" % reason)

    summary = "\n\n".join(reports)
    summary_path = os.path.join(REPORT_DIR, "report.txt")
    with open(summary_path, "w") as handle:
        handle.write(summary + "\n")
    print("\n" + "=" * 100 + "\n" + summary + "\n" + "=" * 100)
    print("Report written to %s" % os.path.relpath(summary_path, os.getcwd()))


if __name__ == "__main__":
    main()
