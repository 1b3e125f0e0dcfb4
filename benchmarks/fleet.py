# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet sharing one PostgreSQL and one Redis, measured before and after the tuning: the figures of
the Molecule scenario `fleet` (molecule/fleet), as a dated JSON in benchmarks/results and a section of
docs/performance.md.

Three gateway replicas on systemd test machines behind HAProxy, sharing a PostgreSQL with
max_connections 60 and a Redis with maxclients 300. Upstream's defaults first (run-gunicorn.sh's
worker count, the gateway's own pools), then the tune playbook one replica at a time, then the same
load: hey through HAProxy while the servers' sessions and clients are sampled, and what the replicas
logged of the servers refusing them.

Run: sudo make fleet-benchmark (about 10 minutes). It runs the scenario with its figures kept in a
folder (MCPGW_FLEET_RESULTS), then this script. --report JSON writes the section again from a result.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import socket
import sys

from performance_page import replace_section  # benchmarks/, the folder of this script

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION_START = "<!-- fleet:start -->"
SECTION_END = "<!-- fleet:end -->"
PHASES = ("defaults", "tuned")


def collect(folder):
    """The scenario's figures from its results folder: each phase's load and servers, and each
    replica's plan (settings and totals from the tune role's report)."""
    result = {"date": datetime.date.today().isoformat(), "host": socket.gethostname(), "phases": {}, "plans": {}}
    for phase in PHASES:
        with open(os.path.join(folder, "fleet-%s.json" % phase)) as handle:
            result["phases"][phase] = json.load(handle)
    with open(os.path.join(folder, "rolling-refused.json")) as handle:
        rolling = json.load(handle)
    result["rolling_refused"] = {"free_sessions_taken": rolling["taken"], "refusal": rolling["refusal"],
                                 "rc": rolling["rc"], "refused": "Tune the whole fleet at once" in rolling["output"],
                                 "changed_nothing": not re.search(r"changed=[1-9]", rolling["output"])}
    reports = os.path.join(folder, "tune-reports")
    for name in sorted(os.listdir(reports)):
        if name.endswith(".tune.json"):
            with open(os.path.join(reports, name)) as handle:
                report = json.load(handle)
            result["plans"][name[:-len(".tune.json")]] = {
                "settings": dict((key, report["settings"].get(key)) for key in (
                    "workers", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "REDIS_MAX_CONNECTIONS",
                    "RATELIMITER_REDIS_MAX_CONNECTIONS")),
                "totals": report["totals"], "replicas_reason": report["replicas_reason"],
                "warnings": report["warnings"]}
    return result


def pools_of(plans, key):
    """What the fleet's pools may open at most, summed over its replicas' plans."""
    return sum(plan["totals"][key] for plan in plans.values())


def row(name, phase, limits):
    servers, logged = phase["servers"], phase["logged"]
    failures = ", ".join(["%s × HTTP %s" % (count, code) for code, count in sorted(phase["status_codes"].items())
                          if not code.startswith("2")]
                         + ["%s × %s" % (count, kind) for kind, count in sorted(phase["error_kinds"].items())])
    workers = sorted(set(replica["workers"] for replica in phase["replicas"].values()))
    return "| %s | %d × %s | %d | %d%s | %.1f | %.0f | %d of %d | %d of %d | %d | %d | %d |" % (
        name, len(phase["replicas"]), "/".join(str(count) for count in workers), phase["requests"], phase["failed"],
        " (%s)" % failures if failures else "", phase["requests_per_second"], phase["p99_ms"] or 0,
        servers["postgres_role_sessions"], limits["max_connections"], servers["redis_clients"], limits["maxclients"],
        servers["redis_rejected_connections"], logged["refused"], logged["pool_timeouts"])


def section(result):
    defaults, tuned = result["phases"]["defaults"], result["phases"]["tuned"]
    limits = tuned["limits"]
    plans = result["plans"]
    some_plan = next(iter(plans.values()))
    lines = [SECTION_START, "",
             "Measured %s on %s by the Molecule scenario `fleet` (`sudo make fleet-benchmark`): %d gateway replicas "
             "on systemd test machines (systemd-nspawn on this host, no limits of their own) behind HAProxy checking "
             "`/ready`, sharing one PostgreSQL (`max_connections` %d) and one Redis (`maxclients` %d). `hey -c %d` "
             "for %d s sending JSON-RPC `tools/list` through HAProxy, with the servers' sessions and clients sampled "
             "every 0.25 s on the servers: first on upstream's defaults (run-gunicorn.sh's worker count, the "
             "gateway's own pools: `DB_POOL_SIZE` 200 + 10 overflow per worker, Redis pools of 50), then after the "
             "tune playbook, which restarted the three at once. PostgreSQL keeps 3 of its slots for superusers. "
             "Failed: a non-2xx answer or none. Refused: lines in which a replica logged PostgreSQL refusing it a "
             "session; pool timeouts: a worker's pool had no connection free in time."
             % (result["date"], result["host"], len(tuned["replicas"]), limits["max_connections"],
                limits["maxclients"], tuned["concurrency"], tuned["seconds"]), "",
             "| Fleet | Replicas × workers | Requests | Failed | Requests/s | p99 ms | Peak PostgreSQL sessions "
             "| Peak Redis clients | Redis refused connections | Refused (logged) | Pool timeouts (logged) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
             row("upstream's defaults", defaults, limits), row("tuned", tuned, limits), "",
             "The plans: %s; each replica `%s`. Their pools may open at most %d PostgreSQL sessions and %d Redis "
             "connections over the fleet, within the budgets the probes gave (%d and %d, with room for one more "
             "replica during a rollout)." % (
                 some_plan["replicas_reason"], ", ".join("%s=%s" % item for item in some_plan["settings"].items()),
                 pools_of(plans, "db_connections_per_replica"), pools_of(plans, "redis_connections_per_replica"),
                 min(plan["totals"]["db_budget"] for plan in plans.values()),
                 min(plan["totals"]["redis_budget"] for plan in plans.values()))]
    rolling = result["rolling_refused"]
    lines += ["", "After the defaults' load their idle pools kept PostgreSQL all but full: %d session(s) of the "
              "gateways' role could still be opened (the scenario took them). A rolling tune "
              "(`mcpgateway_tune_serial: 1`, drained in HAProxy) run then was %s (exit code %d; %s): a replica "
              "restarted alone would have waited for the sessions the others keep (docs/sizing.md, \"Servers full "
              "of the fleet's own connections\")." % (
                  rolling["free_sessions_taken"], "refused" if rolling["refused"] else "not refused", rolling["rc"],
                  "no host changed" if rolling["changed_nothing"] else "a host changed")]
    warnings = sorted(set(warning for plan in plans.values() for warning in plan["warnings"]))
    if warnings:
        lines += ["", "What the plans said:"] + ["- %s" % warning for warning in warnings]
    lines += ["", SECTION_END]
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("folder", nargs="?", help="the scenario's results folder (MCPGW_FLEET_RESULTS)")
    parser.add_argument("--report", metavar="JSON", help="only write the section again from a saved result")
    options = parser.parse_args(argv[1:])
    if options.report:
        with open(options.report) as handle:
            result = json.load(handle)
    elif options.folder:
        result = collect(options.folder)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with open(os.path.join(REPO_ROOT, "benchmarks", "results", "fleet-%s.json" % stamp), "w") as handle:
            json.dump(result, handle, indent=1)
    else:
        parser.error("give the results folder, or --report JSON")
    text = section(result)
    replace_section(text, SECTION_START, SECTION_END, "A fleet sharing PostgreSQL and Redis, before and after tuning")
    print(text)


if __name__ == "__main__":
    main(sys.argv)
