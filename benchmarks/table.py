# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the performance suite's phases (benchmarks/suite.yml) into the results table.

Per machine: every configuration's median requests/s and p99 over its runs, its failures, its
memory peak, anonymous memory and OOM kills on a small VM, and the ratios the suite is judged by:
each server's plan / the best worker count of that server, the faster plan / the best of the sweep
(target 0.95 or more, with no error), and the Gunicorn plan / upstream's defaults, measured first
and again last. A plan runs the settings of the sweep count with its worker count, so each ratio
pools every measurement of the same settings in the run, the ones measured back to back after the
sweep included (confirmations()). Writes benchmarks/results/latest.md, a dated JSON beside it, and
the table into README.md between its benchmark markers.

Usage: python benchmarks/table.py REPORTS_DIR
       python benchmarks/table.py --confirm SUITE_JSON   (what suite.yml measures again, as JSON)
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
# A configuration measured again later in the run is named after the first with this suffix.
AGAIN = "-again"
# Upstream's defaults are measured first and, where they answered, again after the sweep: the two
# bracket the suite, so a ratio to them shows how much the host drifted in between.
UPSTREAM = ("upstream", "upstream" + AGAIN)
# How benchmarks/tasks/configuration.yml records a configuration it did not measure at all.
NOT_MEASURED = "not put on the machine"


def first_name(name):
    """The configuration a name measures: "gunicorn-3-again" measures "gunicorn-3" again."""
    return name[:-len(AGAIN)] if name.endswith(AGAIN) else name


def is_swept(name):
    return first_name(name) not in PLANS + UPSTREAM[:1]


def oom_kills(suite, name):
    return (suite.get("memory", {}).get(name) or {}).get("oom_kills")


def clean(suite, name, summary):
    """No error, no non-2xx, valid runs, and no worker killed for memory."""
    return (summary["valid"] and summary["errors"] == 0 and summary["non_2xx"] == 0
            and not oom_kills(suite, name))


def sweep_key(name):
    """A sweep configuration's (server, workers), from its name "gunicorn-3" (or "gunicorn-3-again")."""
    server, workers = first_name(name).split("-")
    return server, int(workers)


def plan_server(name):
    return first_name(name).split("-", 1)[1]


def settings_key(suite, name):
    """The settings a configuration runs. A plan runs its server with the worker count it planned,
    which are the settings of that sweep count: the sweep forces the count and plans the rest. So
    every measurement of one (server, workers) measures the same settings. Upstream's defaults have
    their own."""
    first = first_name(name)
    if first in PLANS:
        workers = suite["workers"].get(name, suite["workers"].get(first))
        return (plan_server(first), workers) if workers else (first,)
    if first == UPSTREAM[0]:
        return (first,)
    return sweep_key(first)


def settings_label(key):
    return "-".join(str(part) for part in key)


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


def pool_settings(suite, summaries):
    """Every measurement of each settings, pooled: the median of all their runs, clean only if every
    measurement was (and none failed), and how far the measurements' own medians fall apart."""
    groups = {}
    for name in set(summaries) | set(suite["failed"]):
        if name in summaries or not suite["failed"][name].startswith(NOT_MEASURED):
            groups.setdefault(settings_key(suite, name), []).append(name)
    pooled = {}
    for key, names in groups.items():
        measured = sorted(name for name in names if name in summaries)
        if not measured:
            continue
        medians = [summaries[name]["requests_per_second"] for name in measured]
        pooled[key] = {
            "names": measured,
            "summary": summarize_runs([run for name in measured for run in suite["phases"][name]]),
            "clean": len(measured) == len(names) and all(clean(suite, name, summaries[name]) for name in measured),
            "swept": any(is_swept(name) for name in measured),
            # The slowest measurement over the fastest: 1 for one measurement.
            "agreement": (ratio(min(medians), max(medians)) if None not in medians else None),
        }
    return pooled


def measurements(suite):
    """Each configuration's summary, and the pooled measurements of each settings."""
    summaries = dict((name, summarize_runs(runs)) for name, runs in suite["phases"].items() if runs)
    return summaries, pool_settings(suite, summaries)


def best_key(pooled, server=None):
    """The fastest clean sweep settings, of one server or of either."""
    return fastest([(entry["summary"]["requests_per_second"], key) for key, entry in pooled.items()
                    if entry["swept"] and entry["clean"] and (server is None or key[0] == server)])[1]


def pair_ratio(summaries, name, other):
    """The ratio of two configurations measured back to back after the sweep, where they were."""
    ours, theirs = summaries.get(name + AGAIN), summaries.get(other + AGAIN) if other else None
    if not ours or not theirs:
        return None, None
    return ratio(ours["requests_per_second"], theirs["requests_per_second"]), runs_overlap(ours, theirs)


def judge_plan(suite, name, summaries, pooled, best):
    """One plan, on every measurement of its settings, against the best count of its own server
    and the best of either server, on every measurement of theirs."""
    key = settings_key(suite, name)
    entry = pooled.get(key)
    same = best_key(pooled, plan_server(name))
    rps = entry["summary"]["requests_per_second"] if entry else None
    plan_clean = bool(entry and entry["clean"])

    def against(other):
        if other is None or not entry:
            return None, None
        if other == key:
            return 1.0, True
        return (ratio(rps, pooled[other]["summary"]["requests_per_second"]),
                runs_overlap(entry["summary"], pooled[other]["summary"]))

    over_same, overlaps_same = against(same)
    over_best, overlaps_best = against(best)
    back_to_back, back_to_back_overlap = pair_ratio(summaries, name, settings_label(same) if same else None)
    return {
        "settings": settings_label(key),
        "measured_as": entry["names"] if entry else [],
        "agreement": entry["agreement"] if entry else None,
        "requests_per_second": rps,
        "clean": plan_clean,
        "best_same_server": settings_label(same) if same else None,
        "chose_best_same_server": same is not None and same == key,
        "best_same_server_agreement": pooled[same]["agreement"] if same else None,
        "over_best_same_server": over_same,
        "overlaps_best_same_server": overlaps_same,
        "over_best": over_best,
        "overlaps_best": overlaps_best,
        "back_to_back": back_to_back,
        "back_to_back_overlap": back_to_back_overlap,
        # Where no worker count of its server ran clean, a clean plan is ahead of all of them.
        "met_same_server": plan_clean and (over_same is None or over_same >= TARGET),
    }


def judge_upstream(suite, name, summaries, pooled):
    """The Gunicorn plan, on every measurement of its settings, against one measurement of upstream's defaults."""
    plan = pooled.get(settings_key(suite, DEFAULT_PLAN)) if DEFAULT_PLAN in summaries else None
    plan_summary = plan["summary"] if plan else None
    upstream = summaries.get(name)
    return {
        "default_plan_over": ratio(plan_summary["requests_per_second"] if plan_summary else None,
                                   upstream["requests_per_second"] if upstream else None),
        "overlaps_default_plan": runs_overlap(plan_summary, upstream),
        "clean": bool(upstream and clean(suite, name, upstream)),
    }


def confirmations(suite):
    """What the suite measures again after the sweep, back to back: for each plan whose worker count
    is not the best of its server, that best count, then the plan. The first measurements of each
    were taken minutes apart; these two are not, and they join the pool of their settings."""
    summaries, pooled = measurements(suite)
    best = best_key(pooled)
    configurations = []
    for name in PLANS:
        plan = judge_plan(suite, name, summaries, pooled, best)
        measured_again = name + AGAIN in summaries or name + AGAIN in suite["failed"]
        if name not in summaries or measured_again or not plan["best_same_server"] or plan["chose_best_same_server"]:
            continue
        best_name = plan["best_same_server"]
        server, workers = sweep_key(best_name)
        configurations += [
            {"name": best_name + AGAIN, "kind": "plan", "server": server, "workers": workers, "again": best_name},
            {"name": name + AGAIN, "kind": "plan", "server": plan_server(name), "again": name},
        ]
    return configurations


def machine_rows(suite):
    """The table's rows, and the verdict: the target is met when every plan ran clean, each is at
    least TARGET x the best count of its own server (the plan sizes the server the operator chose),
    and the faster plan is at least TARGET x the best of either server; each settings judged on all
    its measurements in the run."""
    summaries, pooled = measurements(suite)
    best = best_key(pooled)
    plans = dict((name, judge_plan(suite, name, summaries, pooled, best)) for name in PLANS)
    best_plan = fastest([(plan["requests_per_second"], name) for name, plan in plans.items() if plan["clean"]])[1]
    best_plan_over_best = plans[best_plan]["over_best"] if best_plan else None
    judged = [plan[agreement] for plan in plans.values() for agreement in ("agreement", "best_same_server_agreement")]
    verdict = {
        "best": settings_label(best) if best else None,
        "best_measured_as": pooled[best]["names"] if best else [],
        "plans": plans,
        "best_plan": best_plan,
        "best_plan_over_best": best_plan_over_best,
        "best_plan_overlaps_best": plans[best_plan]["overlaps_best"] if best_plan else None,
        # The first measurement always has a line (without runs, its ratio is "-"); the second only
        # where it was taken.
        "upstream": dict((name, judge_upstream(suite, name, summaries, pooled))
                         for name in UPSTREAM if name in summaries or name == UPSTREAM[0]),
        # Every plan clean (so there is a faster plan), and each near its own and the best.
        "met": (all(plan["met_same_server"] for plan in plans.values())
                and (best_plan_over_best is None or best_plan_over_best >= TARGET)),
        # Whether the settings judged, each measured more than once, stayed within the target's
        # tolerance: if not, the run cannot tell a plan at 0.95 of the best from one below it.
        "repeatable": all(agreement >= TARGET for agreement in judged if agreement is not None),
    }
    rows = []
    # A sweep configuration that failed has no summary: list it from the failures too.
    names = set(summaries) | set(suite["failed"])
    not_swept = list(UPSTREAM) + list(PLANS) + [name + AGAIN for name in PLANS]
    for name in not_swept + sorted((name for name in names if is_swept(name)), key=lambda name: (sweep_key(name), name)):
        if name in suite["failed"] and name not in summaries:
            rows.append((name, suite["workers"].get(name, "-"), "no result: %s" % suite["failed"][name][:120]))
        elif name in summaries:
            rows.append((name, suite["workers"].get(name, "-"), summaries[name]))
    return rows, verdict


def overlap_text(overlaps):
    if overlaps is None:
        return ""
    return " (runs overlap)" if overlaps else " (runs apart)"


def measured_text(names, agreement):
    if len(names) < 2:
        return "measured once"
    return "measured %d times (%s), slowest / fastest %s" % (len(names), ", ".join(names), cell(agreement, 3))


def verdict_lines(verdict):
    lines = []
    for name in PLANS:
        plan = verdict["plans"][name]
        server = plan_server(name).capitalize()
        lines.append("- %s (%s's settings, %s) / best %s count (%s): **%s**%s; / best of the sweep (%s): %s%s%s" % (
            name, plan["settings"], measured_text(plan["measured_as"], plan["agreement"]), server,
            plan["best_same_server"] or "-", cell(plan["over_best_same_server"], 3),
            overlap_text(plan["overlaps_best_same_server"]), verdict["best"] or "-", cell(plan["over_best"], 3),
            overlap_text(plan["overlaps_best"]), "" if plan["clean"] else " (not clean)"))
        if plan["chose_best_same_server"]:
            lines.append("  - the plan chose the best %s count" % server)
        elif plan["back_to_back"] is not None:
            lines.append("  - measured back to back after the sweep, %s%s / %s%s: %s%s" % (
                name, AGAIN, plan["best_same_server"], AGAIN, cell(plan["back_to_back"], 3),
                overlap_text(plan["back_to_back_overlap"])))
    lines.append("- the best of the sweep: %s (measured as %s)" % (
        verdict["best"] or "-", ", ".join(verdict["best_measured_as"]) or "-"))
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
                     "; but settings judged here, measured at different times of this run, differ by more than "
                     "%d %%, so its ratios cannot tell %.2f from below it" % (round((1 - TARGET) * 100), TARGET)))
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
             "%s runs of %s s each after a warm-up, median, %s s per request at most; JSON-RPC tools/list on "
             "PostgreSQL with max_connections 100). Memory: the small VM's cgroup peak (MiB, of its limit, page cache included), its anonymous "
             "memory after the runs (MiB: what the processes hold, about their peak) and OOM kills during the "
             "configuration. Upstream's defaults are measured first and, where they answered, again after the sweep. "
             "A plan runs the settings of the sweep count with its worker count; where that is not the best count "
             "of its server, both are measured again after the sweep, back to back (\"-again\"), and each ratio "
             "below is of the medians of all runs of the same settings. "
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
    if len(argv) == 3 and argv[1] == "--confirm":
        with open(argv[2]) as handle:
            print(json.dumps(confirmations(json.load(handle))))
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
