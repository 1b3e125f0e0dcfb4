# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smallest Redis pool a gateway worker starts and serves with: measured.

The planner never sizes REDIS_MAX_CONNECTIONS below MIN_REDIS_POOL_SIZE (plugins/plugin_utils/
sizing_inputs.py). This installs a gateway on this machine (the install playbook, supervisord, one
worker, Redis as its cache, SQLite), then for each pool size writes REDIS_MAX_CONNECTIONS and
RATELIMITER_REDIS_MAX_CONNECTIONS to its tuning.env, restarts it, and records whether /ready came
within the wait, the Redis clients it held at idle and after the load, hey's figures on
authenticated JSON-RPC tools/list, and the "Too many connections" lines it logged meanwhile.

Run: make redis-pool-benchmark (about 8 minutes). It writes benchmarks/results/redis-pool-DATE.json and its
section of docs/performance.md. --report JSON writes the section again from a saved result.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from performance_page import (  # benchmarks/, the folder of this script
    benchmark_parser,
    load_result,
    replace_section,
    save_result,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION_START, SECTION_END = "<!-- redis-pool:start -->", "<!-- redis-pool:end -->"
POOL_EXHAUSTED = "Too many connections"


def log_size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def lines_since(path, offset, text):
    """How many lines written to path after offset contain text."""
    if not os.path.exists(path):
        return 0
    with open(path, errors="replace") as handle:
        handle.seek(offset)
        return sum(1 for line in handle if text in line)


def measure(gateway, client, size, seconds, concurrency, wait, harness):
    with open(os.path.join(gateway.config_dir, "tuning.env"), "w") as handle:
        handle.write("REDIS_MAX_CONNECTIONS=%d\nRATELIMITER_REDIS_MAX_CONNECTIONS=%d\n" % (size, size))
    log = os.path.join(gateway.state_dir, "supervisor", "mcpgateway.log")
    offset = log_size(log)
    gateway.supervisorctl("restart", "all")
    started = time.monotonic()
    ready = harness.wait_ready(gateway.url, wait)
    row = {"pool": size, "ready": ready, "ready_seconds": round(time.monotonic() - started, 1),
           "idle_clients": client.info("clients")["connected_clients"] - 1}
    if ready:
        completed = subprocess.run(
            harness.hey_command(gateway.url, gateway.token(minutes=10), concurrency, "%ds" % seconds, timeout=30),
            capture_output=True, text=True, timeout=seconds + 120, check=False)
        report = harness.parse_hey(completed.stdout)
        row.update(requests=report["requests"], failed=report["non_2xx"] + report["errors"],
                   requests_per_second=report["requests_per_second"], p99_ms=report["latency_ms"].get("p99"),
                   loaded_clients=client.info("clients")["connected_clients"] - 1)
    row["pool_exhausted_lines"] = lines_since(log, offset, POOL_EXHAUSTED)
    return row


def run(options):
    # The tests' harness installs and drives the gateway; it needs this checkout as the collection.
    sys.path[:0] = [options.collections, os.path.join(REPO_ROOT, "tests")]
    import redis  # pylint: disable=import-outside-toplevel
    from harness import fleet, local_gateway, throwaway  # pylint: disable=import-outside-toplevel
    from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import (  # pylint: disable=C0415
        parse_hey,
    )

    harness = argparse.Namespace(wait_ready=throwaway.wait_ready, parse_hey=parse_hey, hey_command=fleet.hey_command)
    folder = tempfile.mkdtemp(prefix="mcpgw-redis-pool-")
    password = "redis-pool-%d" % os.getpid()
    rows = []
    with throwaway.RedisServer(password=password) as server:
        gateway = local_gateway.LocalGateway(os.path.join(folder, "gateway"), options.collections, extra_vars={
            "gateway_cache_type": "redis", "gateway_redis_url": server.url(None, password), "gateway_workers": 1,
            "gateway_extra_env": {"RATE_LIMITING_ENABLED": "false"}})
        try:
            installed = gateway.playbook(capture=True)
            if installed.returncode != 0:
                raise SystemExit("the install failed: %s" % installed.stdout[-3000:])
            client = redis.Redis.from_url(server.url(None, password))
            for size in options.pools:
                rows.append(measure(gateway, client, size, options.seconds, options.concurrency, options.wait,
                                    harness))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            gateway.stop()
            shutil.rmtree(folder, ignore_errors=True)
    return {"date": datetime.date.today().isoformat(), "host": socket.gethostname(), "seconds": options.seconds,
            "concurrency": options.concurrency, "wait": options.wait, "rows": rows}


def section(results):
    lines = [SECTION_START, "",
             "Measured %s on %s by `benchmarks/redis_pool.py` (`make redis-pool-benchmark`): the gateway installed by "
             "the install playbook on this machine (supervisord, 1 Gunicorn worker, SQLite, Redis as its cache), "
             "restarted with each `REDIS_MAX_CONNECTIONS` (and the rate limiter's pool, the same), then `hey -c %d` "
             "for %d s on authenticated JSON-RPC `tools/list`. Not ready: `/ready` did not answer 200 within %d s. "
             "\"Too many connections\" is what redis-py raises when a pool has no connection left to lend."
             % (results["date"], results["host"], results["concurrency"], results["seconds"], results["wait"]), "",
             "| Pool | Ready | Redis clients idle / after the load | Requests/s | p99 ms | Failed | \"Too many connections\" lines |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        if row["ready"]:
            lines.append("| %d | yes | %d / %d | %.1f | %.0f | %d | %d |" % (
                row["pool"], row["idle_clients"], row["loaded_clients"],
                row["requests_per_second"], row["p99_ms"] or 0, row["failed"], row["pool_exhausted_lines"]))
        else:
            lines.append("| %d | no | %d / - | - | - | - | %d |" % (row["pool"], row["idle_clients"],
                                                                    row["pool_exhausted_lines"]))
    lines += ["", SECTION_END]
    return "\n".join(lines)


def main(argv):
    parser = benchmark_parser(__doc__, collections=True)
    parser.add_argument("--pools", type=int, nargs="+", default=[2, 3, 4, 5, 6, 8, 12])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--wait", type=int, default=60, help="seconds to wait for /ready after each restart")
    options = parser.parse_args(argv[1:])
    if options.report:
        results = load_result(options.report)
    else:
        if not shutil.which("hey"):
            sys.exit("needs hey (apt-get install hey)")
        results = run(options)
        save_result(results, "redis-pool-%s.json" % results["date"])
    replace_section(section(results), SECTION_START, SECTION_END, "The smallest Redis pool a worker needs")
    print(section(results))


if __name__ == "__main__":
    main(sys.argv)
