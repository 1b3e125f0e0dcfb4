# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the performance suite's phases (benchmarks/suite.yml) into the results table.

Per machine: every configuration's median requests/s and p99 over its runs, its failures, its
memory peak, anonymous memory and OOM kills on a small VM, and the ratios the suite is judged by:
each server's plan / the best worker count of that server, the faster plan / the best of the sweep
(target 0.95 or more, with no error), the Gunicorn plan / upstream's defaults, measured first and
again last, and each plan / the sweep count that runs its settings (how far one configuration moves
within the run). Writes benchmarks/results/latest.md, a dated JSON beside it, and the table into
README.md between its benchmark markers.

Usage: python benchmarks/table.py REPORTS_DIR
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, ".build", "collections"))

from ansible_collections.mcpgateway.tuning.plugins.module_utils.benchmark import ratio, summarize_runs  # noqa: E402 pylint: disable=wrong-import-position

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")
README_START, README_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
TARGET = 0.95
# suite.yml's plans: the tune role's plan for each server, named "tuned-<server>"; Gunicorn is the
# role's default server, and the one upstream's defaults run.
PLANS = ("tuned-gunicorn", "tuned-granian")
DEFAULT_PLAN = "tuned-gunicorn"
# Upstream's defaults are measured first and, where they answered, again after the sweep: the two
# bracket the suite, so a ratio to them shows how much the host drifted in between.
UPSTREAM = ("upstream", "upstream-again")
NOT_SWEPT = UPSTREAM + PLANS


def oom_kills(suite, name):
    return (suite.get("memory", {}).get(name) or {}).get("oom_kills")


def clean(suite, name, summary):
    """No error, no non-2xx, valid runs, and no worker killed for memory."""
    return (summary["valid"] and summary["errors"] == 0 and summary["non_2xx"] == 0
            and not oom_kills(suite, name))


def sweep_key(name):
    """A sweep configuration's (server, workers), from its name "gunicorn-3"."""
    server, workers = name.split("-")
    return server, int(workers)


def plan_server(name):
    return name.split("-", 1)[1]


def fastest(candidates):
    """(requests/s, name) of the fastest of (requests/s, name) pairs, or (None, None)."""
    return max(candidates) if candidates else (None, None)


def runs_overlap(summary, other):
    """Whether the runs of two configurations overlap (one's slowest run below the other's
    fastest, both ways): a ratio of their medians is then within what repeating a run changes."""
    if not summary or not other or not summary["requests_per_second_runs"] or not other["requests_per_second_runs"]:
        return None
    ours, theirs = summary["requests_per_second_runs"], other["requests_per_second_runs"]
    return min(ours) <= max(theirs) and min(theirs) <= max(ours)


def judge_plan(suite, name, summaries, clean_sweep, best_name):
    """One plan against the best of its own server's sweep and the best of either server's."""
    summary = summaries.get(name)
    rps = summary["requests_per_second"] if summary else None
    same_rps, same_name = fastest([(value, other) for value, other in clean_sweep
                                   if sweep_key(other)[0] == plan_server(name)])
    plan_clean = bool(summary and clean(suite, name, summary))
    over_same = ratio(rps, same_rps)
    best = summaries.get(best_name)
    # The sweep count with the plan's worker count runs the plan's settings (the sweep only forces
    # the count), measured at another time of the same run: their ratio is how far two measurements
    # of one configuration fall apart in this run.
    repeat_name = "%s-%s" % (plan_server(name), suite["workers"].get(name))
    repeat = summaries.get(repeat_name)
    return {
        "requests_per_second": rps,
        "clean": plan_clean,
        "best_same_server": same_name,
        "over_best_same_server": over_same,
        "overlaps_best_same_server": runs_overlap(summary, summaries.get(same_name)),
        "over_best": ratio(rps, best["requests_per_second"] if best else None),
        "overlaps_best": runs_overlap(summary, best),
        # Where no worker count of its server ran clean, a clean plan is ahead of all of them.
        "met_same_server": plan_clean and (over_same is None or over_same >= TARGET),
        "same_settings": repeat_name if repeat else None,
        "over_same_settings": ratio(rps, repeat["requests_per_second"] if repeat else None),
        "overlaps_same_settings": runs_overlap(summary, repeat),
    }


def judge_upstream(suite, name, summaries):
    """The Gunicorn plan against one measurement of upstream's defaults."""
    plan, upstream = summaries.get(DEFAULT_PLAN), summaries.get(name)
    return {
        "default_plan_over": ratio(plan["requests_per_second"] if plan else None,
                                   upstream["requests_per_second"] if upstream else None),
        "overlaps_default_plan": runs_overlap(plan, upstream),
        "clean": bool(upstream and clean(suite, name, upstream)),
    }


def machine_rows(suite):
    """The table's rows, and the verdict: the target is met when every plan ran clean, each is at
    least TARGET x the best count of its own server (the plan sizes the server the operator chose),
    and the faster plan is at least TARGET x the best of either server."""
    summaries = dict((name, summarize_runs(runs)) for name, runs in suite["phases"].items() if runs)
    sweep = dict((name, summary) for name, summary in summaries.items() if name not in NOT_SWEPT)
    clean_sweep = [(summary["requests_per_second"], name) for name, summary in sweep.items()
                   if clean(suite, name, summary)]
    best_rps, best_name = fastest(clean_sweep)
    plans = dict((name, judge_plan(suite, name, summaries, clean_sweep, best_name)) for name in PLANS)
    best_plan_rps, best_plan = fastest([(plan["requests_per_second"], name) for name, plan in plans.items()
                                        if plan["clean"]])
    best_plan_over_best = ratio(best_plan_rps, best_rps)
    verdict = {
        "best": best_name,
        "plans": plans,
        "best_plan": best_plan,
        "best_plan_over_best": best_plan_over_best,
        "best_plan_overlaps_best": plans[best_plan]["overlaps_best"] if best_plan else None,
        # The first measurement always has a line (without runs, its ratio is "-"); the second only
        # where it was taken.
        "upstream": dict((name, judge_upstream(suite, name, summaries))
                         for name in UPSTREAM if name in summaries or name == UPSTREAM[0]),
        # Every plan clean (so there is a faster plan), and each near its own and the best.
        "met": (all(plan["met_same_server"] for plan in plans.values())
                and (best_plan_over_best is None or best_plan_over_best >= TARGET)),
        # Whether one configuration measured twice stayed within the target's tolerance: if not,
        # the run cannot tell a plan at 0.95 of the best from one below it, either way.
        "repeatable": all(TARGET <= plan["over_same_settings"] <= 1 / TARGET for plan in plans.values()
                          if plan["over_same_settings"] is not None),
    }
    rows = []
    # A sweep configuration that failed has no summary: list it from the failures too.
    swept = set(sweep) | set(name for name in suite["failed"] if name not in NOT_SWEPT)
    for name in list(NOT_SWEPT) + sorted(swept, key=sweep_key):
        if name in suite["failed"] and name not in summaries:
            rows.append((name, suite["workers"].get(name, "-"), "no result: %s" % suite["failed"][name][:120]))
            continue
        if name not in summaries:
            continue
        summary = summaries[name]
        rows.append((name, suite["workers"].get(name, "-"), summary))
    return rows, verdict


def overlap_text(overlaps):
    if overlaps is None:
        return ""
    return " (runs overlap)" if overlaps else " (runs apart)"


def verdict_lines(verdict):
    lines = []
    for name in PLANS:
        plan = verdict["plans"][name]
        server = plan_server(name).capitalize()
        lines.append("- %s / best %s of the sweep (%s): **%s**%s; / best of the sweep (%s): %s%s%s" % (
            name, server, plan["best_same_server"] or "-", cell(plan["over_best_same_server"], 3),
            overlap_text(plan["overlaps_best_same_server"]), verdict["best"] or "-", cell(plan["over_best"], 3),
            overlap_text(plan["overlaps_best"]), "" if plan["clean"] else " (not clean)"))
        if plan["same_settings"]:
            lines.append("  - the same settings as %s, measured at another time of this run: %s%s" % (
                plan["same_settings"], cell(plan["over_same_settings"], 3), overlap_text(plan["overlaps_same_settings"])))
    lines.append("- the faster plan (%s) / best of the sweep (%s): **%s**%s" % (
        verdict["best_plan"] or "-", verdict["best"] or "-", cell(verdict["best_plan_over_best"], 3),
        overlap_text(verdict["best_plan_overlaps_best"])))
    for name in UPSTREAM:
        upstream = verdict["upstream"].get(name)
        if upstream:
            lines.append("- %s / upstream's defaults%s: **%s**%s (upstream clean: %s)" % (
                DEFAULT_PLAN, " measured again after the sweep" if name != UPSTREAM[0] else "",
                cell(upstream["default_plan_over"], 3), overlap_text(upstream["overlaps_default_plan"]),
                "yes" if upstream["clean"] else "no"))
    lines.append("- target (each plan at least %.2f of its server's best and the faster plan at least %.2f of the "
                 "best, with no error): **%s**%s" % (
                     TARGET, TARGET, "met" if verdict["met"] else "not met",
                     "" if verdict["repeatable"] else
                     "; but a plan and the sweep count with its settings differ by more than %d %% in this run, so "
                     "its ratios cannot tell %.2f from below it" % (round((1 - TARGET) * 100), TARGET)))
    return lines


def cell(value, digits=1):
    return "-" if value is None else ("%.*f" % (digits, value) if isinstance(value, float) else str(value))


def run_range(summary):
    """The slowest and the fastest run: how far apart runs are says which ratios mean something."""
    values = summary["requests_per_second_runs"]
    return "%.1f to %.1f" % (min(values), max(values)) if values else "-"


def memory_cells(suite, name):
    memory = suite.get("memory", {}).get(name) or {}
    if not memory.get("limited"):
        return ["-", "-", "-"]
    # Suites before 2026-12-01 afternoon did not read the anonymous memory.
    return ["%d of %d" % (memory["peak_mib"], memory["limit_mib"]), cell(memory.get("anonymous_mib")),
            cell(memory["oom_kills"])]


def render(suites, when):
    first = suites[0]
    intro = ("Measured %s on the test machines (systemd-nspawn on a 2-vCPU host; hey on the same host, -c %s, "
             "%s runs of %s s each after a warm-up, median; JSON-RPC tools/list on PostgreSQL with max_connections "
             "100). Memory: the small VM's cgroup peak (MiB, of its limit, page cache included), its anonymous "
             "memory after the runs (MiB: what the processes hold, about their peak) and OOM kills during the "
             "configuration. Upstream's defaults are measured first and, where they answered, again after the sweep. "
             "A ratio whose runs overlap (the slowest run of each below the fastest of the other) is within what "
             "repeating the runs changes. Reproduce: `sudo make benchmark`.")
    lines = [intro % (when, first.get("concurrency", 200), first.get("runs", 3), first.get("duration", 10)), ""]
    for suite in suites:
        rows, verdict = machine_rows(suite)
        lines += ["#### %s: %s CPUs, %s MiB usable (Ansible's facts: %s CPUs, %s MiB)" % (
            suite["host"], suite["cpus"], suite["memory_mib"], suite["facts_cpus"], suite["facts_memory_mib"]), "",
            "| configuration | workers | requests/s | runs' requests/s | p99 ms | non-2xx | errors "
            "| memory peak MiB | anonymous MiB | OOM kills | runs valid |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, workers, summary in rows:
            if isinstance(summary, str):
                cells = (name, workers, summary) + tuple(memory_cells(suite, name))
                lines.append("| %s | %s | %s | | | | | %s | %s | %s | |" % cells)
                continue
            lines.append("| %s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |" % ((
                "**%s**" % name if name in PLANS else name, workers, cell(summary["requests_per_second"]),
                run_range(summary), cell(summary["p99_ms"]), summary["non_2xx"], summary["errors"])
                + tuple(memory_cells(suite, name)) + (
                "yes" if summary["valid"] else "no: %s" % "; ".join(sorted(set(summary["invalid_reasons"])))[:80],)))
        lines += [""] + verdict_lines(verdict) + [""]
    return "\n".join(lines)


def main(argv):
    reports = argv[1]
    suites = []
    for path in sorted(glob.glob(os.path.join(reports, "*.suite.json"))):
        with open(path) as handle:
            suites.append(json.load(handle))
    if not suites:
        sys.exit("no *.suite.json in %s: did the suite run?" % reports)
    now = datetime.datetime.now(datetime.timezone.utc)
    table = render(suites, now.strftime("%Y-%m-%d"))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.md"), "w") as handle:
        handle.write("# Performance suite: latest results\n\n" + table)
    with open(os.path.join(RESULTS, now.strftime("%Y%m%dT%H%M%SZ.json")), "w") as handle:
        json.dump(suites, handle, indent=1, sort_keys=True)
    readme_path = os.path.join(REPO_ROOT, "README.md")
    with open(readme_path) as handle:
        readme = handle.read()
    if README_START in readme and README_END in readme:
        head, rest = readme.split(README_START, 1)
        readme = head + README_START + "\n" + table + "\n" + README_END + rest.split(README_END, 1)[1]
        with open(readme_path, "w") as handle:
            handle.write(readme)
    print(table)


if __name__ == "__main__":
    main(sys.argv)
