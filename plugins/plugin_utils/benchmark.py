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


class BenchmarkError(Exception):
    """The runs cannot be summarized: the message says why."""


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


def summarize_runs(runs):
    """One phase from its load_test results: medians of throughput and latency, sums of failures."""
    if not runs:
        raise BenchmarkError("no run to summarize")
    valid = all(run.get("valid") for run in runs)
    statuses, kinds = {}, {}
    for run in runs:
        add_counts(statuses, run.get("status_codes"))
        add_counts(kinds, run.get("error_kinds"))
    throughputs = [run["requests_per_second"] for run in runs if run.get("requests_per_second") is not None]
    p99s = [run["latency_ms"]["p99"] for run in runs if (run.get("latency_ms") or {}).get("p99") is not None]
    p50s = [run["latency_ms"]["p50"] for run in runs if (run.get("latency_ms") or {}).get("p50") is not None]
    median_rps = round(statistics.median(throughputs), 1) if valid and throughputs else None
    return {
        "runs": len(runs),
        "valid": valid,
        "invalid_reasons": [run.get("reason") for run in runs if not run.get("valid")],
        "requests_per_second": median_rps,
        "requests_per_second_runs": [round(value, 1) for value in throughputs],
        # How far apart the runs are, relative to the median: a large spread makes a small ratio meaningless.
        "spread": round((max(throughputs) - min(throughputs)) / median_rps, 3) if median_rps else None,
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


def slower_beyond_tolerance(comparison):
    """Whether compare's throughput ratio is below its tolerance: the gate's throughput reason, and
    the report's cue to say whether the runs overlap."""
    return comparison["requests_per_second_ratio"] is not None and \
        comparison["requests_per_second_ratio"] < 1 - comparison["tolerance"]


def p99_worse_beyond_tolerance(comparison):
    """Whether compare's p99 ratio is above its tolerance: the gate's p99 reason, and the report's
    cue to say whether the p99 of the runs overlap."""
    return comparison["p99_ratio"] is not None and comparison["p99_ratio"] > 1 + comparison["tolerance"]


def compare(before, after, tolerance=0.05):
    """Ratios after/before and whether after is a regression: slower beyond the tolerance, a p99
    worse beyond it, or more failed requests. An invalid phase cannot be compared. runs_overlap and
    p99_runs_overlap say whether the runs overlap in throughput and in p99: the gate does not read
    them, the report shows them."""
    result = {"requests_per_second_ratio": ratio(after["requests_per_second"], before["requests_per_second"]),
              "p99_ratio": ratio(after["p99_ms"], before["p99_ms"]), "tolerance": tolerance, "reasons": [],
              "runs_overlap": runs_overlap(before, after),
              "p99_runs_overlap": runs_overlap(before, after, "p99_ms_runs")}
    if not (before["valid"] and after["valid"]):
        result["comparable"] = False
        result["regression"] = False
        result["reasons"].append("not comparable: %s" % "; ".join(
            sorted(set(reason for reason in before["invalid_reasons"] + after["invalid_reasons"] if reason))))
        return result
    result["comparable"] = True
    if slower_beyond_tolerance(result):
        result["reasons"].append("throughput %.1f -> %.1f requests/s (x%.2f, beyond the %.0f %% tolerance)" % (
            before["requests_per_second"], after["requests_per_second"], result["requests_per_second_ratio"],
            tolerance * 100))
    if p99_worse_beyond_tolerance(result):
        result["reasons"].append("p99 %.1f -> %.1f ms (x%.2f, beyond the %.0f %% tolerance)" % (
            before["p99_ms"], after["p99_ms"], result["p99_ratio"], tolerance * 100))
    failed_before = before["non_2xx"] + before["errors"]
    failed_after = after["non_2xx"] + after["errors"]
    if failed_after > failed_before:
        result["reasons"].append("failed requests %d -> %d" % (failed_before, failed_after))
    result["regression"] = bool(result["reasons"])
    return result


def diagnose(summary, timeout_seconds=None, memory_used_mib=None, memory_limit_mib=None):
    """The tuning guide's bottleneck table applied to one phase: [{symptom, cause, mitigation}]."""
    findings = []
    if summary["server_errors"]:
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


def overlap_line(phases, key, opening, unit, difference):
    before, after = phases["before"][key], phases["after"][key]
    return ("%s (before %s to %s, after %s to %s %s): %s is within what repeating the runs changes here; more "
            "runs (`benchmark_runs`) or longer ones (`benchmark_requests`, `benchmark_duration`) can tell it apart."
            % (opening, min(before), max(before), min(after), max(after), unit, difference))


WARMUP_STATE_TEXT = {"unchecked": "not checked", "warming": "still getting faster", "settled": "settled",
                     "failed": "no throughput"}


def shown_warmup(warmup):
    return "-" if not warmup else "%d (%s)" % (warmup["rounds"], WARMUP_STATE_TEXT[warmup["state"]])


def markdown(host, phases, comparison=None, changes=(), diagnosis=()):
    """The report of one host: a table with a column per phase (and the ratio), then what changed
    and what the load showed."""
    names = list(phases)
    header = "| | " + " | ".join(names) + (" | after / before |" if comparison else " |")
    lines = ["## %s" % host, "", header, "|---" * (len(names) + 1 + (1 if comparison else 0)) + "|"]
    rows = [("requests/s (median)", "requests_per_second", "", "requests_per_second_ratio"),
            ("p50 ms (median)", "p50_ms", "", None), ("p99 ms (median)", "p99_ms", "", "p99_ratio"),
            ("non-2xx responses", "non_2xx", "", None), ("errors (no response)", "errors", "", None),
            ("runs", "runs", "", None)]
    for label, key, unit, ratio_key in rows:
        cells = [shown(phases[name][key], unit) for name in names]
        if comparison:
            cells.append(shown(comparison.get(ratio_key)) if ratio_key else "")
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    if any(phases[name].get("warmup") for name in names):
        cells = [shown_warmup(phases[name].get("warmup")) for name in names] + ([""] if comparison else [])
        lines.append("| warm-up rounds | %s |" % " | ".join(cells))
    for name in names:
        for reason in sorted(set(phases[name]["invalid_reasons"])):
            lines += ["", "**%s is invalid:** %s" % (name, reason)]
        warmup = phases[name].get("warmup")
        if warmup and warmup["state"] == "warming":
            lines += ["", "**%s was still getting faster** when its warm-up ended (%s requests/s in its last two "
                      "rounds): its runs may measure a gateway still warming up. Raise `benchmark_warmup_rounds` or "
                      "`benchmark_warmup_requests`." % (name, " then ".join(
                          str(value) for value in warmup["requests_per_second_runs"][-2:]))]
    if comparison and comparison["regression"]:
        lines += ["", "**Regression:** " + "; ".join(comparison["reasons"])]
        # A median of 3 runs moves by more than a 5 % tolerance where the runs spread by 20 to 40 %
        # (a gateway on the host that runs hey): say so beside the verdict, which stays.
        if slower_beyond_tolerance(comparison) and comparison["runs_overlap"]:
            lines += ["", overlap_line(phases, "requests_per_second_runs", "The runs overlap", "requests/s",
                                       "this throughput difference")]
        if p99_worse_beyond_tolerance(comparison) and comparison["p99_runs_overlap"]:
            lines += ["", overlap_line(phases, "p99_ms_runs", "The p99 of the runs overlap", "ms",
                                       "this p99 difference")]
    elif comparison and not comparison["comparable"]:
        lines += ["", "**Not compared:** a phase is invalid (above)."]
    if changes:
        lines += ["", "Settings changed:", ""]
        lines += ["- `%s`: %s -> %s" % (change["name"], shown(change.get("before")), shown(change.get("after")))
                  for change in changes]
    if diagnosis:
        lines += ["", "Diagnosis:", ""]
        lines += ["- %s: %s. %s." % (finding["symptom"], finding["cause"], finding["mitigation"].capitalize())
                  for finding in diagnosis]
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
