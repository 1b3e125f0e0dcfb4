# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before/after benchmark arithmetic: when a warm-up has done its work, the median of repeated
load_test runs, the comparison of two phases with a regression verdict, the tuning guide's
bottleneck diagnosis, and the report.

Medians, not means: one run disturbed by a worker recycling or a slow first connection should
not move the figure. A phase is valid only when every run was (no HTTP 429, something answered).
"""

from __future__ import annotations

import math
import statistics

# A p99 this close to the request timeout means requests are about to time out.
LATENCY_NEAR_TIMEOUT = 0.8
# Memory use above this share of the limit leaves no room for a traffic peak or a leak.
MEMORY_NEAR_LIMIT = 0.9
# A warm-up round faster than the one before by more than this share shows a gateway still warming
# up (workers started cold, caches and pools filling). Measured on the demo's gateway (2 vCPU, hey
# beside it) after each of 4 starts, 6 rounds of 600 requests at -c 20: the first round served 19
# to 29 requests/s and every later one 27 to 41 (+6 % to +70 % from the first to the second); from
# the third round on, one round to the next moved by -27 % to +34 % without a trend. A low share
# costs at most a round of noise more; a high one would stop while the gateway still gets faster.
WARMUP_GAIN = 0.05


# load_test's reason for a run that measured the gateway's rate limiter, not the gateway.
RATE_LIMITED = "rate limited"


class BenchmarkError(Exception):
    """The runs cannot be summarized: the message says why."""


def request_problem(phases, host, tolerance, figures):
    """Why a report cannot be made of this request, or '': no phase to report, a host name that cannot
    name a file in the report folder, a tolerance or a figure that is not a finite number in its range."""
    if not phases:
        return "phases is empty: give at least one phase, e.g. {before: [load_test results]}"
    if not host or host in (".", "..") or "/" in host or "\0" in host:
        return ("host %r cannot name the report's files (<host>.benchmark.md in report_dir): give a name without "
                "'/', not '.' or '..'" % host)
    if not (isinstance(tolerance, float) and 0 <= tolerance < 1):
        return "tolerance must be a fraction from 0 to below 1 (0.05 is 5 %%), got %s" % tolerance
    for name, value in figures.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            return "%s must be a positive number, got %s" % (name, value)
    return ""


def add_counts(total, counts):
    for key, count in (counts or {}).items():
        total[str(key)] = total.get(str(key), 0) + int(count)
    return total


def warmup_state(rounds, gain=WARMUP_GAIN):
    """How a warm-up of load_test rounds stands: "unchecked" before a second round, "warming" while
    the last round was faster than the one before by more than gain, "settled" once it was not,
    "failed" after a round without a throughput (rate limited, nothing answered: more load does
    not mend it, and the measured runs will report it). Throughput, not p99: the p99 of a few
    hundred requests is a handful of them and moved by a factor of 2 between warm rounds."""
    throughputs = [round_.get("requests_per_second") if round_.get("valid") else None for round_ in rounds]
    if throughputs and throughputs[-1] is None:
        return "failed"
    if len(throughputs) < 2:
        return "unchecked"
    return "warming" if throughputs[-1] > throughputs[-2] * (1 + gain) else "settled"


def summarize_warmup(rounds, gain=WARMUP_GAIN):
    """The warm-up of one phase for the report: its rounds, their throughput, and its state."""
    return {"rounds": len(rounds), "state": warmup_state(rounds, gain),
            "requests": sum(int(round_.get("requests") or 0) for round_ in rounds),
            "requests_per_second_runs": [None if round_.get("requests_per_second") is None
                                         else round(round_["requests_per_second"], 1) for round_ in rounds]}


def unmeasured(error):
    """A phase whose load could not run (the gateway refused the check request, hey failed): no
    figure, and the error. After a tuning, that is the worst outcome, and compare says so."""
    return {"runs": 0, "valid": False, "invalid_reasons": [], "error": error, "requests_per_second": None,
            "requests_per_second_runs": [], "ok_requests_per_second": None, "ok_requests_per_second_runs": [],
            "spread": None, "p50_ms": None, "p99_ms": None, "p99_ms_runs": [], "requests": 0, "non_2xx": 0,
            "server_errors": 0, "errors": 0, "status_codes": {}, "error_kinds": {}}


def answered_nothing(run):
    """A run whose every request failed without an answer (nothing listened, every connection reset)."""
    return bool(run.get("requests")) and not run.get("status_codes") and int(run.get("errors") or 0) > 0


def served_per_second(run):
    """The throughput of a run counting only the requests answered with a 2xx: a gateway that
    fails a third of its requests fast (an HTTP 401 when the auth lookup gets no database
    connection) must not look faster for it, and one that answered nothing served 0."""
    requests = int(run.get("requests") or 0)
    failed = int(run.get("non_2xx") or 0) + int(run.get("errors") or 0)
    if not requests or failed >= requests or run.get("requests_per_second") is None:
        return 0.0
    return run["requests_per_second"] * (requests - failed) / requests


def summarize_runs(runs):
    """One phase from its load_test results: medians of throughput and latency, sums of failures."""
    if not runs:
        raise BenchmarkError("no run to summarize")
    valid = all(run.get("valid") for run in runs)
    rate_limited = any(not run.get("valid") and str(run.get("reason") or "").startswith(RATE_LIMITED)
                       for run in runs)
    statuses, kinds = {}, {}
    for run in runs:
        add_counts(statuses, run.get("status_codes"))
        add_counts(kinds, run.get("error_kinds"))
    throughputs = [run["requests_per_second"] for run in runs if run.get("requests_per_second") is not None]
    served = [served_per_second(run) for run in runs
              if run.get("requests_per_second") is not None or answered_nothing(run)]
    p99s = [run["latency_ms"]["p99"] for run in runs if (run.get("latency_ms") or {}).get("p99") is not None]
    p50s = [run["latency_ms"]["p50"] for run in runs if (run.get("latency_ms") or {}).get("p50") is not None]
    median_rps = round(statistics.median(throughputs), 1) if valid and throughputs else None
    return {
        "runs": len(runs),
        "valid": valid,
        "rate_limited": rate_limited,
        "invalid_reasons": [run.get("reason") for run in runs if not run.get("valid")],
        "requests_per_second": median_rps,
        "requests_per_second_runs": [round(value, 1) for value in throughputs],
        # How far apart the runs are, relative to the median: a large spread makes a small ratio meaningless.
        "spread": round((max(throughputs) - min(throughputs)) / median_rps, 3) if median_rps else None,
        # A run nothing answered served 0 requests/s: a measurement of a broken gateway, not a missing one.
        "ok_requests_per_second": round(statistics.median(served), 1) if served and not rate_limited else None,
        "ok_requests_per_second_runs": [round(value, 1) for value in served],
        "p50_ms": round(statistics.median(p50s), 1) if p50s else None,
        "p99_ms": round(statistics.median(p99s), 1) if p99s else None,
        "p99_ms_runs": [round(value, 1) for value in p99s],
        "requests": sum(int(run.get("requests") or 0) for run in runs),
        "non_2xx": sum(int(run.get("non_2xx") or 0) for run in runs),
        "server_errors": sum(count for code, count in statuses.items() if code.startswith("5")),
        "errors": sum(int(run.get("errors") or 0) for run in runs),
        "status_codes": statuses,
        "error_kinds": kinds,
    }


def _merged(values, combine):
    values = [value for value in values if value is not None]
    return combine(values) if values else None


def resources_of(watched):
    """What mcpgateway.tuning.resource_watch saw during a phase, as the phase's summary keeps it; a
    list of watches (a phase measured in several rounds) gives the peaks of all and the sums of the
    OOM kills and log lines."""
    watches = [watch for watch in (watched if isinstance(watched, list) else [watched]) if watch]
    signs = [watch.get("log_signs") for watch in watches if watch.get("log_signs")]
    return {"peak_memory_mib": _merged([watch.get("peak_memory_mib") for watch in watches], max),
            "oom_kills": _merged([watch.get("oom_kills") for watch in watches], sum),
            "main_process_exits": _merged([int(watch["main_process_exited"]) for watch in watches
                                           if "main_process_exited" in watch], sum),
            "peak_db_sessions": _merged([watch.get("peak_db_sessions") for watch in watches], max),
            "log_signs": dict((key, sum(sign.get(key, 0) for sign in signs))
                              for key in ("refused", "pool_timeouts", "lines")) if signs else None}


def ratio(after, before):
    return round(after / before, 3) if after is not None and before else None


def runs_overlap(summary, other, key="requests_per_second_runs"):
    """Whether the runs of two phases overlap in throughput, or in p99 with key "p99_ms_runs" (each
    one's lowest run at or below the other's highest): a ratio of their medians is then within what
    repeating the runs changes. None where either has no run with the figure."""
    if not summary or not other or not summary.get(key) or not other.get(key):
        return None
    ours, theirs = summary[key], other[key]
    return min(ours) <= max(theirs) and min(theirs) <= max(ours)


BETTER, NO_CHANGE, WORSE = "better", "no measurable change", "worse"


def judge_runs(before, after, key, runs_key, higher_is_better, tolerance, label, unit):
    """The verdict on one figure measured in repeated runs, and its reason. The rule, fixed before
    any result: a change is measured only when the runs of the two phases do not overlap (every run
    of one beyond every run of the other) and the medians differ by more than the tolerance; a
    difference within the spread of the runs is "no measurable change", whichever way the medians
    lean. With one run a phase the ranges are points and the tolerance alone decides."""
    old, new = before.get(key), after.get(key)
    if old is None or new is None or not before.get(runs_key) or not after.get(runs_key):
        return NO_CHANGE, "%s: not measured in both phases" % label
    change = ratio(new, old)
    figures = "%s %s -> %s %s%s" % (label, old, new, unit, "" if change is None else " (x%.2f)" % change)
    if runs_overlap(before, after, runs_key):
        return NO_CHANGE, "%s; the runs overlap (before %s to %s, after %s to %s)" % (
            figures, min(before[runs_key]), max(before[runs_key]), min(after[runs_key]), max(after[runs_key]))
    # From 0 (a gateway that served nothing) any change is beyond a tolerance.
    if change is not None and abs(change - 1) <= tolerance:
        return NO_CHANGE, "%s, within the %.0f %% tolerance" % (figures, tolerance * 100)
    went_up = new > old
    verdict = BETTER if went_up == higher_is_better else WORSE
    return verdict, "%s, every run %s" % (figures, "above" if went_up else "below")


def judge_count(old, new, label):
    """Failed requests and OOM kills are judged on their own: any increase is worse."""
    if old is None or new is None:
        return NO_CHANGE, "%s: not measured in both phases" % label
    if new == old:
        return NO_CHANGE, "%s %d in both" % (label, new)
    return (WORSE if new > old else BETTER), "%s %d -> %d" % (label, old, new)


def failed_requests(summary):
    return summary["non_2xx"] + summary["errors"]


def compare(before, after, tolerance=0.05):
    """The verdict on after against before: one of "better", "no measurable change" and "worse" for
    each figure (throughput of answered requests, p99, failed requests, OOM kills) and overall.
    Overall it is "worse" when any figure is worse, "better" when one is better and none worse.
    reasons says why, the deciding figures first; regression is the gate's reading (worse). An
    invalid phase cannot be compared."""
    result = {"requests_per_second_ratio": ratio(after["ok_requests_per_second"], before["ok_requests_per_second"]),
              "p99_ratio": ratio(after["p99_ms"], before["p99_ms"]), "tolerance": tolerance,
              "runs_overlap": runs_overlap(before, after, "ok_requests_per_second_runs"),
              "p99_runs_overlap": runs_overlap(before, after, "p99_ms_runs")}
    if after.get("error") and not before.get("error"):
        result.update(comparable=True, regression=True, verdict=WORSE, verdicts={"measured": WORSE},
                      reasons=["after could not be measured: %s" % after["error"]])
        return result
    # A phase that measured the rate limiter cannot be compared; one that nothing answered can: its
    # failed requests are the measurement.
    if before.get("rate_limited") or after.get("rate_limited"):
        result.update(comparable=False, regression=False, verdict=None, verdicts={}, reasons=[
            "not comparable: %s" % "; ".join(sorted(set(
                reason for reason in before["invalid_reasons"] + after["invalid_reasons"] if reason)))])
        return result
    judged = {
        "throughput": judge_runs(before, after, "ok_requests_per_second", "ok_requests_per_second_runs", True,
                                 tolerance, "throughput", "requests/s"),
        "p99": judge_runs(before, after, "p99_ms", "p99_ms_runs", False, tolerance, "p99", "ms"),
        "failed_requests": judge_count(failed_requests(before), failed_requests(after), "failed requests"),
        "oom_kills": judge_count(before.get("oom_kills"), after.get("oom_kills"), "OOM kills"),
    }
    verdicts = dict((name, verdict) for name, (verdict, dummy) in judged.items())
    overall = WORSE if WORSE in verdicts.values() else (BETTER if BETTER in verdicts.values() else NO_CHANGE)
    measured = [(verdict, reason) for verdict, reason in judged.values() if "not measured" not in reason]
    deciding = [reason for verdict, reason in measured if verdict == overall]
    others = [reason for verdict, reason in measured if verdict != overall]
    result.update(comparable=True, verdicts=verdicts, verdict=overall, reasons=deciding + others,
                  regression=overall == WORSE)
    return result


def database_exhaustion(summary, log_signs):
    """The finding for failed requests that the log shows as database exhaustion, or None. The
    gateway answers HTTP 401 when the auth lookup gets no connection, so a burst of 401s is read
    with the log, not as an authentication problem."""
    failed = dict((code, count) for code, count in summary["status_codes"].items()
                  if code == "401" or code.startswith("5"))
    if not failed or not log_signs or not (log_signs["refused"] or log_signs["pool_timeouts"]):
        return None
    return {
        "symptom": "%s while the gateway's log shows %s" % (
            ", ".join("%d HTTP %s" % (count, code) for code, count in sorted(failed.items())),
            " and ".join(text for text in (
                ("%d sessions refused by PostgreSQL" % log_signs["refused"]) if log_signs["refused"] else "",
                ("%d pool timeouts" % log_signs["pool_timeouts"]) if log_signs["pool_timeouts"] else "") if text)),
        "cause": "database exhaustion, not authentication: the workers' pools ask for more sessions than PostgreSQL "
                 "lets this role open (workers x replicas x (DB_POOL_SIZE + DB_MAX_OVERFLOW) above its limit), and a "
                 "request whose auth lookup gets no session is answered 401 or 5xx",
        "mitigation": "size DB_POOL_SIZE and DB_MAX_OVERFLOW so that every worker of every replica fits the limits "
                      "the PostgreSQL probe reports (the tune role does), or put PgBouncer in front",
    }


def diagnose(summary, timeout_seconds=None, memory_used_mib=None, memory_limit_mib=None, log_signs=None):
    """The tuning guide's bottleneck table applied to one phase: [{symptom, cause, mitigation}].
    log_signs (resource_watch's count of the gateway's log lines during the phase that show
    PostgreSQL refusing sessions or pools timing out) tells database exhaustion from other failures."""
    findings = []
    exhaustion = database_exhaustion(summary, log_signs)
    if exhaustion:
        findings.append(exhaustion)
    elif summary["server_errors"]:
        findings.append({
            "symptom": "%d HTTP 5xx under load" % summary["server_errors"],
            "cause": "workers or database connections exhausted (requests waited past DB_POOL_TIMEOUT, or the "
                     "server had no worker free)",
            "mitigation": "raise DB_POOL_SIZE within PostgreSQL's max_connections (or put PgBouncer in front), add "
                          "workers where CPU and memory allow, or lower the concurrency per replica",
        })
    timeouts = summary["error_kinds"].get("timeout", 0)
    near = timeout_seconds and summary["p99_ms"] and summary["p99_ms"] >= LATENCY_NEAR_TIMEOUT * timeout_seconds * 1000
    if timeouts or near:
        findings.append({
            "symptom": (("%d requests timed out" % timeouts) if timeouts
                        else "p99 %.0f ms is near the %d s timeout" % (summary["p99_ms"], timeout_seconds)),
            "cause": "latency beyond the timeout: requests queue behind busy workers or slow backends",
            "mitigation": "raise the server's timeout only if the backends are slow by nature; otherwise add "
                          "workers, shorten the queue (backlog, backpressure) or fix the slow backend",
        })
    refused = summary["error_kinds"].get("connection refused", 0) + summary["error_kinds"].get("connection reset", 0)
    if refused:
        findings.append({
            "symptom": "%d connections refused or reset" % refused,
            "cause": "the listen backlog overflowed, or the server restarted during the run",
            "mitigation": "raise the backlog (and net.core.somaxconn), check the service's restarts and memory",
        })
    if summary.get("oom_kills"):
        findings.append({
            "symptom": "%d processes OOM-killed during the load" % summary["oom_kills"],
            "cause": "more workers than the memory limit holds (upstream sizes workers from the CPUs the host shows, "
                     "not from the memory the service may use); each kill drops the requests the worker held",
            "mitigation": "fewer workers (the tune role sizes them from the memory limit too), worker recycling "
                          "(max_requests, workers_max_rss), or more memory",
        })
    if summary.get("main_process_exits"):
        findings.append({
            "symptom": "the gateway's main process exited during the load",
            "cause": "its master was killed (by the kernel's OOM killer, as a container's main process is when the "
                     "container runs out of memory) or crashed: every request it held failed, and its service manager "
                     "or engine started it again while the load refused connections",
            "mitigation": "fewer workers (the tune role sizes them from the memory limit too), or more memory; read "
                          "its journal or the engine's log for why it exited",
        })
    if memory_used_mib and memory_limit_mib and memory_used_mib >= MEMORY_NEAR_LIMIT * memory_limit_mib:
        findings.append({
            "symptom": "memory %.0f MiB of %.0f MiB" % (memory_used_mib, memory_limit_mib),
            "cause": "memory near the limit: the kernel will kill a worker at the next peak",
            "mitigation": "fewer workers (the memory-constrained profile), worker recycling (max_requests, "
                          "workers_max_rss), or more memory",
        })
    return findings


def shown(value, unit=""):
    return "-" if value is None else ("%s%s" % (value, unit))


WARMUP_STATE_TEXT = {"unchecked": "not checked", "warming": "still getting faster", "settled": "settled",
                     "failed": "no throughput"}


def shown_warmup(warmup):
    return "-" if not warmup else "%d (%s)" % (warmup["rounds"], WARMUP_STATE_TEXT[warmup["state"]])


VERDICT_LINE = {BETTER: "**Better**", NO_CHANGE: "**No measurable change**", WORSE: "**Worse**"}


def verdict_line(comparison):
    """The report's first line: the verdict and its reasons."""
    if not comparison["comparable"]:
        return "**Not compared:** %s." % "; ".join(comparison["reasons"])
    return "%s: %s." % (VERDICT_LINE[comparison["verdict"]], "; ".join(comparison["reasons"]))


# label, the phase's key, the comparison's ratio key.
REPORT_ROWS = (
    ("requests/s answered 2xx (median)", "ok_requests_per_second", "requests_per_second_ratio"),
    ("requests/s, all answers (median)", "requests_per_second", None),
    ("p50 ms (median)", "p50_ms", None),
    ("p99 ms (median)", "p99_ms", "p99_ratio"),
    ("requests sent", "requests", None),
    ("failed: non-2xx responses", "non_2xx", None),
    ("failed: no response", "errors", None),
    ("OOM kills", "oom_kills", None),
    ("main process exited (phases)", "main_process_exits", None),
    ("peak memory MiB", "peak_memory_mib", None),
    ("peak database sessions", "peak_db_sessions", None),
    ("runs", "runs", None),
)


def markdown(host, phases, comparison=None, changes=(), diagnosis=()):  # pylint: disable=too-many-branches
    """The report of one host: the verdict and its reasons first, then a table with a column per
    phase (and the ratio), then what changed and what the load showed."""
    names = list(phases)
    header = "| | " + " | ".join(names) + (" | after / before |" if comparison else " |")
    lines = ["## %s" % host, ""]
    if comparison:
        lines += [verdict_line(comparison), ""]
    lines += [header, "|---" * (len(names) + 1 + (1 if comparison else 0)) + "|"]
    for label, key, ratio_key in REPORT_ROWS:
        cells = [shown(phases[name].get(key)) for name in names]
        if all(cell == "-" for cell in cells) and key in ("oom_kills", "peak_memory_mib", "peak_db_sessions"):
            continue
        # Shown when it happened: a gateway that stays up says nothing here.
        if key == "main_process_exits" and not any(phases[name].get(key) for name in names):
            continue
        if comparison:
            cells.append(shown(comparison.get(ratio_key)) if ratio_key else "")
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    if any(phases[name].get("warmup") for name in names):
        cells = [shown_warmup(phases[name].get("warmup")) for name in names] + ([""] if comparison else [])
        lines.append("| warm-up rounds | %s |" % " | ".join(cells))
    for name in names:
        if phases[name].get("error"):
            lines += ["", "**%s could not be measured:** %s" % (name, phases[name]["error"])]
        for reason in sorted(set(phases[name]["invalid_reasons"])):
            lines += ["", "**%s is invalid:** %s" % (name, reason) if reason.startswith(RATE_LIMITED)
                      else "**%s got no answer:** %s" % (name, reason)]
        warmup = phases[name].get("warmup")
        if warmup and warmup["state"] == "warming":
            lines += ["", "**%s was still getting faster** when its warm-up ended (%s requests/s in its last two "
                      "rounds): its runs may measure a gateway still warming up. Raise `benchmark_warmup_rounds` or "
                      "`benchmark_warmup_requests`." % (name, " then ".join(
                          str(value) for value in warmup["requests_per_second_runs"][-2:]))]
    if changes:
        lines += ["", "Settings changed:", ""]
        lines += ["- `%s`: %s -> %s" % (change["name"], shown(change.get("before")), shown(change.get("after")))
                  for change in changes]
    # diagnosis: the findings of the last phase, or {phase: findings} for each phase.
    by_phase = diagnosis if isinstance(diagnosis, dict) else {names[-1]: list(diagnosis or ())}
    for name in names:
        if by_phase.get(name):
            lines += ["", "Diagnosis:" if len(by_phase) == 1 else "Diagnosis of %s:" % name, ""]
            lines += ["- %s: %s. %s." % (finding["symptom"], finding["cause"], finding["mitigation"].capitalize())
                      for finding in by_phase[name]]
    return "\n".join(lines) + "\n"


def chart_png(path, host, phases):
    """A bar chart of requests/s and p99 by phase; False when matplotlib is not installed."""
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use("Agg")
        from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    names = list(phases)
    figure, (throughput, latency) = pyplot.subplots(1, 2, figsize=(8, 3.2))
    throughput.bar(names, [phases[name]["requests_per_second"] or 0 for name in names], color="#3b7dd8")
    throughput.set_title("requests/s (median)")
    latency.bar(names, [phases[name]["p99_ms"] or 0 for name in names], color="#d8793b")
    latency.set_title("p99 ms (median)")
    figure.suptitle(host)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def phase_figures(summary, workers=None):
    """The figures of one phase that tuning changes, for a summary file and a headline."""
    failed = failed_requests(summary)
    return {"workers": workers, "requests": summary["requests"], "failed": failed,
            "failed_share": round(failed / summary["requests"], 3) if summary["requests"] else None,
            "oom_kills": summary.get("oom_kills"), "requests_per_second": summary["ok_requests_per_second"],
            "p99_ms": summary["p99_ms"], "peak_memory_mib": summary.get("peak_memory_mib"),
            "peak_db_sessions": summary.get("peak_db_sessions"), "error": summary.get("error")}


def _phase_sentence(label, figures):
    workers = "" if figures["workers"] is None else ", %s workers" % figures["workers"]
    if figures["error"]:
        return "%s%s: could not be measured (%s)." % (label, workers, figures["error"])
    parts = ["%.0f %% of %d requests failed" % (100.0 * figures["failed_share"], figures["requests"])
             if figures["failed"] else "0 of %d requests failed" % figures["requests"]]
    if figures["oom_kills"] is not None:
        parts.append("%d OOM kills" % figures["oom_kills"])
    if figures["peak_db_sessions"] is not None:
        parts.append("%d database sessions at the peak" % figures["peak_db_sessions"])
    if figures["requests_per_second"] is not None:
        parts.append("%s requests/s answered" % figures["requests_per_second"])
    return "%s%s: %s." % (label, workers, ", ".join(parts))


def headline(before, after, before_label="Before", after_label="After"):
    """Two sentences from phase_figures of before and after, the failures first; a before in
    which nothing failed is said plainly, so that a machine where the defaults hold reads as such."""
    text = "%s %s" % (_phase_sentence(before_label, before), _phase_sentence(after_label, after))
    if not before["error"] and not before["failed"] and not before["oom_kills"]:
        text += " (Nothing failed before the tuning on this machine: the defaults held here.)"
    return text
