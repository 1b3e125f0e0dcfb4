# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A load on a fleet of gateway replicas through its load balancer, and what the shared servers
saw meanwhile: hey sending authenticated JSON-RPC tools/list through HAProxy for a fixed time, while
the PostgreSQL sessions and Redis clients of the whole fleet are sampled on the servers themselves;
then what each replica's journal says the servers refused. Used by the Molecule scenario `fleet`
(molecule/fleet), whose verify judges the figures, and by `make fleet-benchmark`.

    python tests/harness/fleet_load.py measure --url URL --token-file FILE --servers servers.json \\
        --seconds 30 --concurrency 100 --out RESULT.json
    python tests/harness/fleet_load.py while-full --servers servers.json --out RESULT.json -- COMMAND ...
    python tests/harness/fleet_load.py replicas RESULT.json REPLICAS.json
        (REPLICAS: {host: {"workers": n, "journal": its gateway's journal of the load's time}})

The samplers hold one session each from before the load: PostgreSQL's as its superuser over the
cluster's unix socket (the slots reserved for superusers, so a server the fleet exhausted still
answers) and Redis's as the fleet's user; neither is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import psycopg
import redis

# The collection (this checkout, as Molecule's ANSIBLE_COLLECTIONS_PATH has it) for hey's parser and
# the gateway's log signs, and tests/, where the harness package lives.
sys.path[:0] = [path for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if path] + [
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import parse_hey  # noqa: E402 pylint: disable=C0413
from ansible_collections.mcpgateway.tuning.plugins.module_utils.resource_usage import (  # noqa: E402 pylint: disable=C0413
    database_exhaustion_signs,
)
from harness.fleet import hey_command  # noqa: E402 pylint: disable=C0413

POSTGRES_SUPERUSER = "postgres"
# What redis-py raises, and the gateway logs, when Redis is at maxclients.
REDIS_REFUSAL = "max number of clients reached"
SESSIONS = ("SELECT count(*), count(*) FILTER (WHERE usename = %s) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


class Sampler(threading.Thread):
    """Every interval seconds until stopped: PostgreSQL's client sessions (all, and the fleet's role's)
    and Redis's clients; keeps the highest of each and how many samples it took."""

    def __init__(self, servers, interval=0.25):
        super().__init__(daemon=True)
        postgres = servers["postgres"]
        port = urllib.parse.urlsplit(postgres["url"]).port
        self.role = postgres["role"]
        self.postgres = psycopg.connect(host=postgres["folder"], port=port, user=POSTGRES_SUPERUSER,
                                        dbname="postgres", autocommit=True, connect_timeout=10)
        self.redis = redis.Redis.from_url(servers["redis"]["url"], socket_timeout=10)
        self.rejected_before = self.redis.info("stats")["rejected_connections"]
        self.interval = interval
        self.stopping = threading.Event()
        self.peaks = {"postgres_sessions": 0, "postgres_role_sessions": 0, "redis_clients": 0}
        self.samples = 0
        self.failure = None

    def run(self):
        try:
            while not self.stopping.is_set():
                total, role = self.postgres.execute(SESSIONS, (self.role,)).fetchone()
                clients = self.redis.info("clients")["connected_clients"] - 1
                for name, value in (("postgres_sessions", total), ("postgres_role_sessions", role),
                                    ("redis_clients", clients)):
                    self.peaks[name] = max(self.peaks[name], value)
                self.samples += 1
                self.stopping.wait(self.interval)
        except (psycopg.Error, redis.RedisError) as error:
            self.failure = "sampling stopped: %s" % error

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)
        rejected = self.redis.info("stats")["rejected_connections"] - self.rejected_before
        self.postgres.close()
        self.redis.close()
        return dict(self.peaks, redis_rejected_connections=rejected, samples=self.samples, failure=self.failure)


def measure(url, token, servers, seconds, concurrency, timeout):
    """hey through url for seconds, and the servers' peaks meanwhile; a failed request is a non-2xx
    answer or none. Its start and end (epoch seconds) let the journals be read for the same time."""
    sampler = Sampler(servers)
    started = time.time()
    sampler.start()
    try:
        completed = subprocess.run(hey_command(url, token, concurrency, "%ds" % seconds, timeout), capture_output=True,
                                   text=True, timeout=seconds + timeout + 60, check=False)
    finally:
        peaks = sampler.stop()
    report = parse_hey(completed.stdout)
    return dict({"started": int(started), "ended": int(time.time()) + 1, "seconds": seconds,
                 "concurrency": concurrency, "requests": report["requests"],
                 "failed": report["non_2xx"] + report["errors"],
                 "status_codes": dict((str(code), count) for code, count in report["status_codes"].items()),
                 "error_kinds": report["error_kinds"], "requests_per_second": report["requests_per_second"],
                 "p50_ms": report["latency_ms"].get("p50"), "p99_ms": report["latency_ms"].get("p99")},
                servers=peaks, limits={"max_connections": servers["postgres"]["max_connections"],
                                       "maxclients": servers["redis"]["maxclients"]})


def while_full(servers, command, timeout=900):
    """Run command while PostgreSQL is full: sessions of the fleet's role are opened until the server
    refuses one (what the replicas' idle pools left free, taken), held while command runs, then
    closed. Returns how many were taken, command's exit code and its output."""
    url = servers["postgres"]["url"].replace("postgresql+psycopg://", "postgresql://", 1)
    held, refusal = [], None
    try:
        while len(held) < servers["postgres"]["max_connections"]:
            try:
                held.append(psycopg.connect(url, connect_timeout=10))
            except psycopg.OperationalError as error:
                refusal = str(error)
                break
        else:
            raise SystemExit("PostgreSQL never refused a session")
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        for connection in held:
            connection.close()
    return {"taken": len(held), "refusal": " ".join(refusal.split()), "rc": completed.returncode,
            "output": completed.stdout + completed.stderr}


def replica_figures(replicas):
    """From {host: {"workers": n, "journal": text of the load's time}}: per host its workers and what
    it logged of the servers refusing it (PostgreSQL refusing a session and a pool timing out, as
    database_exhaustion_signs counts them; Redis at maxclients), and the sums over the fleet."""
    hosts = {}
    for host, replica in sorted(replicas.items()):
        lines = replica["journal"].splitlines()
        signs = database_exhaustion_signs(lines)
        signs["redis_refused"] = sum(1 for line in lines if REDIS_REFUSAL in line)
        hosts[host] = {"workers": int(replica["workers"]), "logged": signs}
    logged = dict((name, sum(figures["logged"][name] for figures in hosts.values()))
                  for name in ("refused", "pool_timeouts", "redis_refused", "lines"))
    return {"replicas": hosts, "logged": logged}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("measure")
    run.add_argument("--url", required=True, help="the load balancer's URL")
    run.add_argument("--token-file", required=True, help="a file holding a bearer token good on every replica")
    run.add_argument("--servers", required=True, help="the scenario's servers.json (tests/harness/throwaway.py)")
    run.add_argument("--seconds", type=int, default=30)
    run.add_argument("--concurrency", type=int, default=100)
    run.add_argument("--timeout", type=int, default=60, help="seconds hey waits for one response")
    run.add_argument("--out", required=True)
    full = commands.add_parser("while-full", help="run a command while PostgreSQL has no free slot")
    full.add_argument("--servers", required=True)
    full.add_argument("--out", required=True)
    full.add_argument("run", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    replicas = commands.add_parser("replicas")
    replicas.add_argument("result")
    replicas.add_argument("replicas")
    args = parser.parse_args()
    if args.command == "while-full":
        run = args.run[1:] if args.run[:1] == ["--"] else args.run
        if not run:
            parser.error("give the command to run after --")
        with open(args.servers) as handle:
            result = while_full(json.load(handle), run)
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)
        print(json.dumps(dict(result, output=result["output"][-2000:])))
        return
    if args.command == "measure":
        with open(args.token_file) as handle:
            token = handle.read().strip()
        with open(args.servers) as handle:
            servers = json.load(handle)
        result = measure(args.url, token, servers, args.seconds, args.concurrency, args.timeout)
    else:
        with open(args.result) as handle:
            result = json.load(handle)
        with open(args.replicas) as handle:
            result.update(replica_figures(json.load(handle)))
    with open(args.out if args.command == "measure" else args.result, "w") as handle:
        json.dump(result, handle, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
