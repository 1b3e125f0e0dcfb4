# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the performance suite's phases (benchmarks/suite.yml) into the results table.

Per machine: every configuration's median requests/s and p99 over its runs, its failures, its
memory peak, anonymous memory and OOM kills on a small VM, and the ratios the suite is judged by.
The sweep finds the best worker count of each server; then the plans and those counts are measured
in rounds, next to each other ("tuned-gunicorn@2" is the Gunicorn plan in round 2), and every ratio
of a plan is taken within a round and judged on its median over the rounds. On the test host one
configuration's throughput drifts by 10 to 15 % over an hour, more than the target's tolerance,
and little over the minutes a round takes. The ratios: each server's plan / the best count of that
server, the faster plan / the best of the sweep (target 0.95 or more, with no error), and the
Gunicorn plan / upstream's defaults, measured first and again last. Writes
benchmarks/results/latest.md, a dated JSON beside it, and the table into docs/performance.md between
its benchmark markers.

Usage: python benchmarks/table.py REPORTS_DIR
       python benchmarks/table.py --round-counts SUITE_JSON   (the counts suite.yml measures in each round, as JSON)
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import statistics
import sys

# The collection, as make benchmark puts it on PYTHONPATH (and ansible-test units does).
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.benchmark import (
    ratio,
    resources_of,
    runs_overlap,
    summarize_runs,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")
PERFORMANCE_PAGE = os.path.join(REPO_ROOT, "docs", "performance.md")
TABLE_START, TABLE_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
TARGET = 0.95
# suite.yml's plans: the tune role's plan for each server, named "tuned-<server>"; Gunicorn is the
# role's default server, and the one upstream's defaults run.
PLANS = ("tuned-gunicorn", "tuned-granian")
SERVERS = ("gunicorn", "granian")
DEFAULT_PLAN = "tuned-gunicorn"
# A measurement in a round is named after its configuration with this and the round's number.
ROUND = "@"
# Upstream's defaults are measured first and, where they answered, again at the end: the two
# bracket the suite, so that a ratio to them shows how much the host drifted in between.
UPSTREAM = ("upstream", "upstream-again")
# How benchmarks/tasks/configuration.yml records a configuration it did not measure at all.
NOT_MEASURED = "not put on the machine"


def round_of(name):
    """The round of a measurement ("tuned-gunicorn@2" is in round 2), or None outside the rounds."""
    base, number = name.rpartition(ROUND)[::2]
    return int(number) if base and number.isdigit() else None


def first_name(name):
    """The configuration a name measures: "gunicorn-3@2" measures "gunicorn-3"."""
    return name.rpartition(ROUND)[0] if round_of(name) is not None else name


def is_swept(name):
    """A measurement of the sweep itself ("gunicorn-3"), not of a round or of upstream's defaults."""
    server, workers = name.rpartition("-")[::2]
    return server in SERVERS and workers.isdigit()


def oom_kills(suite, name):
    return (suite.get("memory", {}).get(name) or {}).get("oom_kills")


def clean(suite, name, summary):
    """No error, no non-2xx, valid runs, and no worker killed for memory."""
    return (summary["valid"] and summary["errors"] == 0 and summary["non_2xx"] == 0
            and not oom_kills(suite, name))


def sweep_key(name):
    """A sweep configuration's (server, workers), from its name "gunicorn-3" (or "gunicorn-3@2")."""
    server, workers = first_name(name).split("-")
    return server, int(workers)


def plan_server(name):
    return first_name(name).split("-", 1)[1]


def settings_key(suite, name):
    """The settings a measurement runs. A plan runs its server with the worker count it planned,
    which are the settings of that sweep count: the sweep forces the count and plans the rest. So
    every measurement of one (server, workers) measures the same settings. Upstream's defaults have
    their own, and so has a plan that did not come up."""
    first = first_name(name)
    if first in PLANS:
        workers = suite["workers"].get(name)
        return (plan_server(first), workers) if workers else (first,)
    if first in UPSTREAM:
        return (UPSTREAM[0],)
    return sweep_key(first)


def settings_label(key):
    return "-".join(str(part) for part in key)


def fastest(candidates):
    """(requests/s, name) of the fastest of (requests/s, name) pairs, or (None, None)."""
    return max(candidates) if candidates else (None, None)


def summaries_of(suite):
    """Each measurement's summary, for those that have runs."""
    return dict((name, summarize_runs(runs)) for name, runs in suite["phases"].items() if runs)


def best_key(suite, summaries, server=None):
    """The settings of the fastest clean count of the sweep, of one server or of either: what the
    rounds measure the plans against."""
    return fastest([(summary["requests_per_second"], sweep_key(name)) for name, summary in summaries.items()
                    if is_swept(name) and clean(suite, name, summary) and summary["requests_per_second"] is not None
                    and (server is None or sweep_key(name)[0] == server)])[1]


def rounds(suite, summaries):
    """{round: {measurement: its summary, or None where it did not come up}}."""
    found = {}
    for name in set(summaries) | set(suite["failed"]):
        if round_of(name) is not None:
            found.setdefault(round_of(name), {})[name] = summaries.get(name)
    return found


def round_comparison(suite, visits, name, reference):
    """A plan's measurement over the clean measurement of the reference settings in the same round,
    and whether their runs overlap: (1, None) where the plan runs those settings itself, (None,
    None) where the round has no clean one."""
    summary = visits.get(name)
    if reference is None or not summary:
        return None, None
    if settings_key(suite, name) == reference:
        return 1.0, None
    for other, theirs in sorted(visits.items()):
        if theirs and settings_key(suite, other) == reference and clean(suite, other, theirs):
            return ratio(summary["requests_per_second"], theirs["requests_per_second"]), runs_overlap(summary, theirs)
    return None, None


def median_and_range(values):
    """The median of the rounds' ratios, and the lowest and the highest; Nones where there are none."""
    values = [value for value in values if value is not None]
    if not values:
        return None, None
    return round(statistics.median(values), 3), (min(values), max(values))


def noise_of(plan_clean, median, entries, ratio_field, overlap_field):
    """Whether a clean plan's median ratio below TARGET is within the noise: its runs overlap those
    of the count it is compared with in a majority of the rounds that have the ratio (a round where
    the plan runs that count's settings itself counts as overlapping). None where the ratio reaches
    TARGET or was not judged, or the plan is not clean (then nothing is within the noise)."""
    if not plan_clean or median is None or median >= TARGET:
        return None
    compared = [entry for entry in entries if entry[ratio_field] is not None]
    overlapping = sum(1 for entry in compared if entry[overlap_field] is not False)
    return {"overlapping_rounds": overlapping, "rounds": len(compared), "within": 2 * overlapping > len(compared)}


def judge_plan(suite, name, summaries, by_round, best):
    """One plan, round by round, against the best count of its own server and the best of either."""
    same = best_key(suite, summaries, plan_server(name))
    measured = []
    for number in sorted(by_round):
        visit = "%s%s%d" % (name, ROUND, number)
        if visit in by_round[number]:
            summary = by_round[number][visit]
            over_same, overlaps_same = round_comparison(suite, by_round[number], visit, same)
            over_best, overlaps_best = round_comparison(suite, by_round[number], visit, best)
            measured.append({
                "round": number,
                "name": visit,
                "settings": settings_label(settings_key(suite, visit)),
                "requests_per_second": summary["requests_per_second"] if summary else None,
                "clean": bool(summary and clean(suite, visit, summary)),
                "over_best_same_server": over_same,
                "overlaps_best_same_server": overlaps_same,
                "over_best": over_best,
                "overlaps_best": overlaps_best,
            })
    over_same, over_same_range = median_and_range(entry["over_best_same_server"] for entry in measured)
    over_best, over_best_range = median_and_range(entry["over_best"] for entry in measured)
    plan_runs = [run for entry in measured for run in suite["phases"].get(entry["name"], [])]
    plan_clean = bool(measured) and all(entry["clean"] for entry in measured)
    return {
        "settings": sorted(set(entry["settings"] for entry in measured)),
        "rounds": measured,
        # Every run of the plan in the rounds: for the ratio to upstream's defaults, measured outside them.
        "summary": summarize_runs(plan_runs) if plan_runs else None,
        "clean": plan_clean,
        "best_same_server": settings_label(same) if same else None,
        "chose_best_same_server": bool(measured) and same is not None and all(
            entry["settings"] == settings_label(same) for entry in measured),
        "over_best_same_server": over_same,
        "over_best_same_server_range": over_same_range,
        "over_best": over_best,
        "over_best_range": over_best_range,
        "noise_same_server": noise_of(plan_clean, over_same, measured, "over_best_same_server",
                                      "overlaps_best_same_server"),
        "noise_best": noise_of(plan_clean, over_best, measured, "over_best", "overlaps_best"),
        # Where no worker count of its server ran clean, a clean plan is ahead of all of them; where
        # one did but no round has both, the plan cannot be judged.
        "met_same_server": plan_clean and (same is None or (over_same is not None and over_same >= TARGET)),
    }


def judge_upstream(suite, name, summaries, plan):
    """The Gunicorn plan, on all its runs in the rounds, against one measurement of upstream's defaults."""
    upstream = summaries.get(name)
    plan_summary = plan["summary"]
    return {
        "default_plan_over": ratio(plan_summary["requests_per_second"] if plan_summary else None,
                                   upstream["requests_per_second"] if upstream else None),
        "overlaps_default_plan": runs_overlap(plan_summary, upstream),
        "clean": bool(upstream and clean(suite, name, upstream)),
    }


def round_counts(suite):
    """The best count of each server whose settings its plan did not run in the first round: suite.yml
    measures them beside the plans in every round. The best of the sweep is one of them, or a plan."""
    summaries = summaries_of(suite)
    counts = []
    for name in PLANS:
        key = best_key(suite, summaries, plan_server(name))
        if key and settings_key(suite, name + ROUND + "1") != key:
            counts.append({"name": settings_label(key), "kind": "plan", "server": key[0], "workers": key[1]})
    return counts


def short_ratios(plans, best_plan, best):
    """The judged ratios of clean plans below TARGET, each with whether it is within the noise: a
    plan against its server's best count, and the faster plan against the best of the sweep."""
    short = []
    for name in PLANS:
        plan = plans[name]
        if plan["noise_same_server"]:
            short.append(dict(plan["noise_same_server"], plan=name, value=plan["over_best_same_server"],
                              reference="best %s count (%s)" % (plan_server(name).capitalize(), plan["best_same_server"])))
    if best_plan and plans[best_plan]["noise_best"]:
        short.append(dict(plans[best_plan]["noise_best"], plan=best_plan, value=plans[best_plan]["over_best"],
                          reference="best of the sweep (%s)" % settings_label(best)))
    return short


def machine_rows(suite):
    """The table's rows, and the verdict: the target is met when every plan ran clean in every round,
    each is at least TARGET x the best count of its own server (the plan sizes the server the
    operator chose), and the faster plan is at least TARGET x the best of either server; each ratio
    the median of its rounds."""
    summaries = summaries_of(suite)
    by_round = rounds(suite, summaries)
    best = best_key(suite, summaries)
    plans = dict((name, judge_plan(suite, name, summaries, by_round, best)) for name in PLANS)
    # Measured in the same rounds, the plans compare through their ratios to the best.
    best_plan = fastest([((plan["over_best"] or 0.0, (plan["summary"] or {}).get("requests_per_second") or 0.0), name)
                         for name, plan in plans.items() if plan["clean"]])[1]
    best_plan_over_best = plans[best_plan]["over_best"] if best_plan else None
    judged = [plan["over_best_same_server_range"] for plan in plans.values()]
    judged.append(plans[best_plan]["over_best_range"] if best_plan else None)
    verdict = {
        "best": settings_label(best) if best else None,
        "rounds": len(by_round),
        "plans": plans,
        "best_plan": best_plan,
        "best_plan_over_best": best_plan_over_best,
        "best_plan_over_best_range": plans[best_plan]["over_best_range"] if best_plan else None,
        # The first measurement always has a line (without runs, its ratio is "-"); the second only
        # where it was taken.
        "upstream": dict((name, judge_upstream(suite, name, summaries, plans[DEFAULT_PLAN]))
                         for name in UPSTREAM if name in summaries or name == UPSTREAM[0]),
        # Every plan clean and near its own server's best, and the faster plan near the best.
        "met": (all(plan["met_same_server"] for plan in plans.values())
                and (best is None or (best_plan_over_best is not None and best_plan_over_best >= TARGET))),
        # Whether each of those ratios reached the target in every round, not only on the median.
        "met_in_every_round": all(span is None or span[0] >= TARGET for span in judged),
        "short": short_ratios(plans, best_plan, best),
    }
    rows = []
    # A configuration that failed has no summary: list it from the failures too.
    names = set(summaries) | set(suite["failed"])
    order = [name for name in UPSTREAM if name in names]
    order += sorted((name for name in names if is_swept(name)), key=sweep_key)
    order += sorted((name for name in names if round_of(name) is not None),
                    key=lambda name: (round_of(name), first_name(name) not in PLANS, name))
    for name in order:
        if name in suite["failed"] and name not in summaries:
            rows.append((name, suite["workers"].get(name, "-"), "no result: %s" % suite["failed"][name][:120]))
        else:
            rows.append((name, suite["workers"].get(name, "-"), summaries[name]))
    return rows, verdict


def overlap_text(overlaps):
    if overlaps is None:
        return ""
    return " (runs overlap)" if overlaps else " (runs apart)"


def range_text(span):
    return "" if span is None else ", rounds %s to %s" % (cell(span[0], 3), cell(span[1], 3))


def settings_text(plan):
    if not plan["settings"]:
        return "measured in no round"
    if len(plan["settings"]) == 1:
        return "%s's settings, %d rounds" % (plan["settings"][0], len(plan["rounds"]))
    return "settings %s: the plan changed between rounds" % ", ".join(plan["settings"])


def round_text(entry):
    if entry["requests_per_second"] is None:
        return "%d: no result" % entry["round"]
    # Whether the runs overlap says whether a round's ratio is apart from what repeating the runs changes.
    return "%d: %s%s and %s%s%s" % (
        entry["round"], cell(entry["over_best_same_server"], 3), overlap_text(entry["overlaps_best_same_server"]),
        cell(entry["over_best"], 3), overlap_text(entry["overlaps_best"]), "" if entry["clean"] else " (not clean)")


def verdict_lines(verdict):
    lines = []
    for name in PLANS:
        plan = verdict["plans"][name]
        server = plan_server(name).capitalize()
        lines.append("- %s (%s) / best %s count (%s): **%s**%s; / best of the sweep (%s): %s%s%s" % (
            name, settings_text(plan), server, plan["best_same_server"] or "-", cell(plan["over_best_same_server"], 3),
            range_text(plan["over_best_same_server_range"]), verdict["best"] or "-", cell(plan["over_best"], 3),
            range_text(plan["over_best_range"]), "" if plan["clean"] else " (not clean)"))
        if plan["chose_best_same_server"]:
            lines.append("  - the plan chose the best %s count" % server)
        if plan["rounds"]:
            lines.append("  - by round, / the best %s count and / the best of the sweep: %s" % (
                server, "; ".join(round_text(entry) for entry in plan["rounds"])))
    lines.append("- the best of the sweep: %s" % (verdict["best"] or "-"))
    lines.append("- the faster plan (%s) / best of the sweep (%s): **%s**%s" % (
        verdict["best_plan"] or "-", verdict["best"] or "-", cell(verdict["best_plan_over_best"], 3),
        range_text(verdict["best_plan_over_best_range"])))
    for name in UPSTREAM:
        upstream = verdict["upstream"].get(name)
        if upstream:
            lines.append("- %s (all its runs in the rounds) / upstream's defaults%s: **%s**%s (upstream clean: %s)" % (
                DEFAULT_PLAN, " measured again at the end" if name != UPSTREAM[0] else "",
                cell(upstream["default_plan_over"], 3), overlap_text(upstream["overlaps_default_plan"]),
                "yes" if upstream["clean"] else "no"))
    if not verdict["rounds"]:
        qualifier = "; no round was measured, so no plan could be judged"
    elif verdict["met"] and not verdict["met_in_every_round"]:
        qualifier = " on the medians of the rounds, not in every round"
    elif verdict["met"]:
        qualifier = " in every round"
    else:
        qualifier = ""
    lines.append("- target (each plan at least %.2f of its server's best and the faster plan at least %.2f of the "
                 "best, with no error; medians of %d rounds): **%s**%s" % (
                     TARGET, TARGET, verdict["rounds"], "met" if verdict["met"] else "not met", qualifier))
    # A ratio below the target is within the noise or below it: the target stays "not met" either way.
    for short in verdict["short"]:
        lines.append("- %s: %s / %s %s, its runs overlapping in %d of %d rounds" % (
            "within the noise, still not met" if short["within"] else "below the target",
            short["plan"], short["reference"], cell(short["value"], 3), short["overlapping_rounds"], short["rounds"]))
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


def sessions_cell(suite, name):
    """The peak PostgreSQL sessions of the gateway's role during a configuration, as the benchmark
    role's resource watch sampled them; suites before 2026-12-04 did not."""
    watched = suite.get("resources", {}).get(name)
    return cell(resources_of(watched)["peak_db_sessions"]) if watched else "-"


def render(suites, when):
    first = suites[0]
    intro = ("Measured %s on the test machines (systemd-nspawn on a 2-vCPU host; hey on the same host, -c %s, "
             "%s runs of %s s each after a warm-up, median, %s s per request at most; JSON-RPC tools/list on "
             "PostgreSQL with max_connections 100). Memory: the small VM's cgroup peak (MiB, of its limit, page cache "
             "included), its anonymous memory after the runs (MiB: what the processes hold, about their peak) and "
             "OOM kills during the configuration; the peak PostgreSQL sessions of the gateway's role, sampled during "
             "its runs. Upstream's defaults are measured first and, where they answered, again at the end. "
             "After the sweep, the plans and the best count of each server are measured in rounds, in turns "
             "(\"@2\": round 2; the order reversed in even rounds), and each ratio of a plan is the median of the "
             "ratios within its rounds: the host drifts over the hour a sweep takes, little over the minutes a "
             "round takes. A plan runs the settings of the sweep count with its worker count. "
             "A ratio whose runs overlap (the slowest run of each below the fastest of the other) is within what "
             "repeating the runs changes. Reproduce: `sudo make benchmark`.")
    # Suites before 2026-12-01 evening ran hey with its 20 s default.
    lines = [intro % (when, first.get("concurrency", 200), first.get("runs", 3), first.get("duration", 10),
                      first.get("request_timeout", 20)), ""]
    for suite in suites:
        rows, verdict = machine_rows(suite)
        lines += ["#### %s: %s CPUs, %s MiB usable (Ansible's facts: %s CPUs, %s MiB)" % (
            suite["host"], suite["cpus"], suite["memory_mib"], suite["facts_cpus"], suite["facts_memory_mib"]), "",
            "| configuration | workers | requests/s | runs' requests/s | p99 ms | non-2xx | errors "
            "| memory peak MiB | anonymous MiB | OOM kills | peak DB sessions | runs valid |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, workers, summary in rows:
            if isinstance(summary, str):
                peak, anonymous, kills = memory_cells(suite, name)
                lines.append("| %s | %s | %s | | | | | %s | %s | %s | %s | |" % (
                    name, workers, summary, peak, anonymous, kills, sessions_cell(suite, name)))
                continue
            lines.append("| %s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |" % ((
                "**%s**" % name if first_name(name) in PLANS else name, workers, cell(summary["requests_per_second"]),
                run_range(summary), cell(summary["p99_ms"]), summary["non_2xx"], summary["errors"])
                + tuple(memory_cells(suite, name)) + (sessions_cell(suite, name),) + (
                "yes" if summary["valid"] else "no: %s" % "; ".join(sorted(set(summary["invalid_reasons"])))[:80],)))
        lines += [""] + verdict_lines(verdict) + [""]
    return "\n".join(lines)


def main(argv):
    if len(argv) == 3 and argv[1] == "--round-counts":
        with open(argv[2]) as handle:
            print(json.dumps(round_counts(json.load(handle))))
        return
    if len(argv) != 2:
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
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
    with open(PERFORMANCE_PAGE) as handle:
        page = handle.read()
    if TABLE_START in page and TABLE_END in page:
        head, rest = page.split(TABLE_START, 1)
        page = head + TABLE_START + "\n" + table + "\n" + TABLE_END + rest.split(TABLE_END, 1)[1]
        with open(PERFORMANCE_PAGE, "w") as handle:
            handle.write(page)
    print(table)


if __name__ == "__main__":
    main(sys.argv)
