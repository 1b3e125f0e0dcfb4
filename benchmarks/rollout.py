# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling tunes under load, measured: what a rollout loses without draining, and what a drained
one costs in latency against the same load outside a rollout.

Two gateway replicas on this machine (the install playbook, supervisord, one set of secrets)
behind HAProxy checking /ready (tests/harness/fleet.py), and hey -c 8 sending JSON-RPC tools/list
through HAProxy in three phases: OUTSIDE seconds before the rollout, for the whole run of the tune
playbook with mcpgateway_tune_serial 1 (the rollout), OUTSIDE seconds after. Each round runs four
rollouts in turns, even rounds in the reverse order:
- `restart`: the worker count switched between 1 and 2, each replica restarted
  (tune_graceful_reload false), no draining;
- `drained`: the same, each replica drained in HAProxy around its restart (tune_haproxy_socket);
- `reload`: only keepalive changed (6 or 7 s, the worker count kept), which Gunicorn re-reads on
  SIGHUP: the role reloads each replica in place, no draining;
- `reload-drained`: the same, each replica drained in HAProxy around its reload.

Run: make rollout-benchmark (about 3 minutes per rollout; hey and HAProxy are installed by make).
It writes benchmarks/results/rollout-STAMP.json, whose "rollout" section holds every phase, and
the rollout section of docs/performance.md. --report JSON writes the section again from a result.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import statistics
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
SECTION_START = "<!-- rollout:start -->"
SECTION_END = "<!-- rollout:end -->"
ROLLOUTS = ("restart", "drained", "reload", "reload-drained")


def phase_figures(report):
    """The figures of one phase from hey's report (load_report.parse_hey): a failed request is a
    non-2xx answer or one that got none."""
    return {"requests": report["requests"], "failed": report["non_2xx"] + report["errors"],
            "status_codes": dict((str(code), count) for code, count in report["status_codes"].items()),
            "error_kinds": report["error_kinds"], "requests_per_second": report["requests_per_second"],
            "p50_ms": report["latency_ms"].get("p50"), "p99_ms": report["latency_ms"].get("p99")}


def summarize(rows):
    """Per rollout kind, over its rounds: requests and failures during the rollouts, and the median
    p99 during the rollouts against the median p99 of the phases before and after them."""
    out = {}
    for kind in ROLLOUTS:
        runs = [row for row in rows if row["rollout"] == kind]
        if not runs:
            continue
        during = [row["phases"]["during"] for row in runs]
        outside = [row["phases"][name] for row in runs for name in ("before", "after")]
        p99_during = statistics.median(phase["p99_ms"] for phase in during if phase["p99_ms"] is not None)
        p99_outside = statistics.median(phase["p99_ms"] for phase in outside if phase["p99_ms"] is not None)
        out[kind] = {"rollouts": len(runs), "requests_during": sum(phase["requests"] for phase in during),
                     "failed_during": sum(phase["failed"] for phase in during),
                     "failed_outside": sum(phase["failed"] for phase in outside),
                     "rollout_seconds": statistics.median(row["tune_seconds"] for row in runs),
                     "p99_during_ms": p99_during, "p99_outside_ms": p99_outside,
                     "p99_ratio": round(p99_during / p99_outside, 2) if p99_outside else None}
    return out


def order(rounds):
    """(round, rollout kind) in the order they run: every kind each round, even rounds in the reverse order."""
    return [(number, kind) for number in range(1, rounds + 1)
            for kind in (ROLLOUTS if number % 2 else tuple(reversed(ROLLOUTS)))]


def measure(fleet, kind, settings, outside, harness):
    """One rollout of kind with these tune variables, under load before, during and after it."""
    url, token = fleet.balancer.url, fleet.token(minutes=60)
    settings = dict(settings)
    if kind.endswith("drained"):
        settings.update(tune_haproxy_socket=fleet.balancer.socket, tune_haproxy_host="localhost")
    before = harness.load_for(url, token, outside)
    load = harness.Load(url, token)
    started = time.monotonic()
    try:
        tuned = fleet.tune(settings)
    finally:
        tune_seconds = round(time.monotonic() - started, 1)
        during = load.stop()[0]
    after = harness.load_for(url, token, outside)
    if tuned.returncode != 0:
        raise SystemExit("the %s rollout failed: %s" % (kind, tuned.stdout[-3000:]))
    return {"rollout": kind, "settings": settings, "tune_seconds": tune_seconds,
            "restarts": tuned.stdout.count("restarted once; /ready answered 200"),
            "reloads": tuned.stdout.count("reloaded gracefully (SIGHUP)"),
            "phases": {"before": phase_figures(before), "during": phase_figures(during),
                       "after": phase_figures(after)}}


def section(results):
    lines = [SECTION_START, "",
             "Measured %s on %s by `benchmarks/rollout.py` (`make rollout-benchmark`): two replicas "
             "(supervisord) behind HAProxy %s checking `/ready` every second (2 checks down, 2 up, 5 s check "
             "timeout), `hey -c %d` on JSON-RPC `tools/list` through it for %d s before each rollout, for "
             "the whole rollout (the tune playbook with `mcpgateway_tune_serial: 1`), and %d s after it; %d "
             "rounds, the kinds in turns. `restart`: the worker count switched (1, 2), both replicas restarted, "
             "no draining; `drained`: the same, each replica drained in HAProxy around its restart; `reload`: only "
             "keepalive changed, each replica reloaded in place by SIGHUP, no draining; `reload-drained`: the "
             "same, drained around each reload. Failed: a non-2xx answer or none."
             % (results["date"], results["host"], results["haproxy"], results["concurrency"],
                results["outside_seconds"], results["outside_seconds"], results["rounds"]), "",
             "| Rollout | Round | Applied by | Rollout s | Requests during | Failed during "
             "| p99 before / during / after (ms) | Failures |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["rollout"]:
        phases = row["phases"]
        failures = ", ".join("%s × %s" % (count, code) for code, count in sorted(phases["during"]["status_codes"].items())
                             if not code.startswith("2"))
        failures = ", ".join(filter(None, [failures] + ["%s × %s" % (count, kind) for kind, count
                                                        in sorted(phases["during"]["error_kinds"].items())]))
        applied = ", ".join(filter(None, ["%d restarts" % row["restarts"] if row["restarts"] else "",
                                          "%d reloads" % row["reloads"] if row["reloads"] else ""])) or "nothing"
        lines.append("| %s | %d | %s | %.0f | %d | %d | %s | %s |" % (
            row["rollout"], row["round"], applied, row["tune_seconds"], phases["during"]["requests"],
            phases["during"]["failed"], " / ".join("%.0f" % (phases[name]["p99_ms"] or 0)
                                                   for name in ("before", "during", "after")), failures or "-"))
    lines += ["", "| Rollout | Rollouts | Requests during | Failed during | Failed outside | p99 during / outside "
              "(medians, ms) | Ratio |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for kind, figures in results["summary"].items():
        lines.append("| %s | %d | %d | %d | %d | %.0f / %.0f | %s |" % (
            kind, figures["rollouts"], figures["requests_during"], figures["failed_during"],
            figures["failed_outside"], figures["p99_during_ms"], figures["p99_outside_ms"],
            "-" if figures["p99_ratio"] is None else "%.2f" % figures["p99_ratio"]))
    lines += ["", SECTION_END]
    return "\n".join(lines)


def run(options):
    # The harness of the tests drives the replicas and HAProxy; it needs this checkout on the path
    # as the collection (make passes .build/collections) and tests/ for the harness itself.
    sys.path[:0] = [options.collections, os.path.join(REPO_ROOT, "tests")]
    from harness import fleet as harness  # pylint: disable=import-outside-toplevel
    from harness.load_balancer import HAPROXY  # pylint: disable=import-outside-toplevel

    folder = tempfile.mkdtemp(prefix="mcpgw-rollout-")
    fleet = harness.LocalFleet(folder, options.collections)
    rows, workers, reloads = [], 2, 0
    try:
        for number, kind in order(options.rounds):
            if kind.startswith("reload"):
                reloads += 1
                settings = {"tune_workers": workers, "tune_overrides": {"keepalive": 6 + reloads % 2}}
            else:
                workers = 3 - workers
                settings = {"tune_workers": workers, "tune_graceful_reload": False}
            row = dict(measure(fleet, kind, settings, options.outside, harness), round=number)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        fleet.stop()
    haproxy = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=True).stdout.split()[2]
    return {"date": datetime.date.today().isoformat(), "host": socket.gethostname(), "haproxy": haproxy,
            "concurrency": 8, "outside_seconds": options.outside, "rounds": options.rounds, "rollout": rows}


def main(argv):
    parser = benchmark_parser(__doc__, collections=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--outside", type=int, default=20, help="seconds of load before and after each rollout")
    options = parser.parse_args(argv[1:])
    results = load_result(options.report) if options.report else run(options)
    results["summary"] = summarize(results["rollout"])
    if not options.report:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        save_result(results, "rollout-%s.json" % stamp)
    replace_section(section(results), SECTION_START, SECTION_END, "A rolling tune behind HAProxy, measured")
    print(section(results))


if __name__ == "__main__":
    main(sys.argv)
