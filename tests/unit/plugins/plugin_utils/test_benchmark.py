# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.benchmark import (
    BenchmarkError,
    compare,
    diagnose,
    markdown,
    runs_overlap,
    summarize_runs,
    summarize_warmup,
    warmup_state,
)


def run(rps, p99, p50=10.0, statuses=None, errors=0, kinds=None, valid=True, reason="ok"):
    statuses = statuses or {"200": 1000}
    return {"valid": valid, "reason": reason, "requests_per_second": rps if valid else None,
            "latency_ms": {"p50": p50, "p99": p99}, "status_codes": statuses, "errors": errors,
            "error_kinds": kinds or {}, "requests": sum(statuses.values()) + errors,
            "non_2xx": sum(count for code, count in statuses.items() if not code.startswith("2"))}


def test_a_phase_is_the_median_of_its_runs():
    summary = summarize_runs([run(100.0, 50.0), run(300.0, 40.0), run(110.0, 45.0)])
    assert summary["requests_per_second"] == 110.0
    assert summary["p99_ms"] == 45.0
    assert summary["spread"] == round(200 / 110, 3)
    assert summary["requests"] == 3000 and summary["valid"]


def test_one_rate_limited_run_makes_the_phase_invalid():
    limited = run(0, 0, valid=False, reason="rate limited: results invalid (x)", statuses={"200": 10, "429": 990})
    summary = summarize_runs([run(100.0, 50.0), limited])
    assert not summary["valid"] and summary["requests_per_second"] is None
    assert summary["invalid_reasons"] == ["rate limited: results invalid (x)"]
    comparison = compare(summary, summarize_runs([run(100.0, 50.0)]))
    assert comparison["comparable"] is False and comparison["regression"] is False
    with pytest.raises(BenchmarkError):
        summarize_runs([])


def test_faster_with_no_more_errors_is_no_regression():
    before = summarize_runs([run(100.0, 200.0)] * 3)
    after = summarize_runs([run(180.0, 90.0)] * 3)
    comparison = compare(before, after)
    assert comparison == {"requests_per_second_ratio": 1.8, "p99_ratio": 0.45, "tolerance": 0.05, "reasons": [],
                          "runs_overlap": False, "p99_runs_overlap": False, "comparable": True, "regression": False}


@pytest.mark.parametrize("after, reason", [
    (run(90.0, 100.0), "throughput 100.0 -> 90.0 requests/s (x0.90, beyond the 5 % tolerance)"),
    (run(100.0, 120.0), "p99 100.0 -> 120.0 ms (x1.20, beyond the 5 % tolerance)"),
    (run(100.0, 100.0, statuses={"200": 990, "503": 10}), "failed requests 0 -> 10"),
])
def test_regressions_say_what_got_worse(after, reason):
    comparison = compare(summarize_runs([run(100.0, 100.0)]), summarize_runs([after]))
    assert comparison["regression"] and comparison["reasons"] == [reason]


def test_within_the_tolerance_is_no_regression():
    assert not compare(summarize_runs([run(100.0, 100.0)]), summarize_runs([run(96.0, 104.0)]))["regression"]


def test_runs_overlap_when_either_reaches_into_the_other():
    def summary(values):
        return {"requests_per_second_runs": values}

    assert runs_overlap(summary([10.0, 12.0]), summary([12.0, 15.0])) is True
    assert runs_overlap(summary([10.0, 20.0]), summary([12.0, 13.0])) is True
    assert runs_overlap(summary([10.0, 11.9]), summary([12.0, 13.0])) is False
    assert runs_overlap(summary([]), summary([12.0])) is None
    assert runs_overlap(None, summary([12.0])) is None


def test_a_slower_median_whose_runs_overlap_is_still_a_regression_and_the_report_says_they_overlap():
    # The demo of 2026-12-02 on the 2-vCPU host: the same settings measured 44 to 54 and 37 to 53.
    before = summarize_runs([run(44.4, 700.0), run(49.5, 750.0), run(53.8, 760.0)])
    after = summarize_runs([run(52.7, 700.0), run(36.5, 750.0), run(39.4, 760.0)])
    comparison = compare(before, after)
    assert comparison["regression"] and comparison["runs_overlap"] is True
    text = markdown("gw-1", {"before": before, "after": after}, comparison)
    assert "**Regression:** throughput 49.5 -> 39.4 requests/s (x0.80, beyond the 5 % tolerance)" in text
    assert ("The runs overlap (before 44.4 to 53.8, after 36.5 to 52.7 requests/s): this throughput difference is "
            "within what repeating the runs changes here") in text


def test_a_slower_median_whose_runs_are_apart_has_no_overlap_line():
    before = summarize_runs([run(100.0, 100.0), run(104.0, 100.0), run(102.0, 100.0)])
    after = summarize_runs([run(80.0, 100.0), run(84.0, 100.0), run(82.0, 100.0)])
    comparison = compare(before, after)
    assert comparison["regression"] and comparison["runs_overlap"] is False
    assert "The runs overlap" not in markdown("gw-1", {"before": before, "after": after}, comparison)
    # A p99 regression alone does not draw the throughput line, whatever the runs.
    worse_p99 = summarize_runs([run(102.0, 200.0)] * 3)
    assert "The runs overlap" not in markdown("gw-1", {"before": before, "after": worse_p99}, compare(before, worse_p99))


def test_a_worse_p99_whose_runs_overlap_is_still_a_regression_and_the_report_says_they_overlap():
    # The medians of the demo of 2026-12-02 evening (2 Gunicorn workers, then the plan's 5); the
    # runs around them are made up, that report kept no p99 by run.
    before = summarize_runs([run(33.8, 1323.6), run(26.7, 1650.2), run(31.2, 1210.9)])
    after = summarize_runs([run(29.8, 1528.6), run(37.1, 1190.4), run(34.8, 1802.3)])
    comparison = compare(before, after)
    assert comparison["regression"] and comparison["p99_runs_overlap"] is True
    assert before["p99_ms_runs"] == [1323.6, 1650.2, 1210.9]
    text = markdown("gw-1", {"before": before, "after": after}, comparison)
    assert "**Regression:** p99 1323.6 -> 1528.6 ms (x1.16, beyond the 5 % tolerance)" in text
    assert ("The p99 of the runs overlap (before 1210.9 to 1650.2, after 1190.4 to 1802.3 ms): this p99 difference "
            "is within what repeating the runs changes here") in text
    assert "The runs overlap" not in text
    apart = summarize_runs([run(34.0, 2000.0), run(33.0, 2100.0), run(35.0, 1900.0)])
    text = markdown("gw-1", {"before": before, "after": apart}, compare(before, apart))
    assert "**Regression:** p99 1323.6 -> 2000.0 ms" in text and "The p99 of the runs overlap" not in text


def test_the_bottleneck_table():
    summary = summarize_runs([run(50.0, 17000.0, statuses={"200": 900, "503": 80}, errors=25,
                                  kinds={"timeout": 20, "connection refused": 5})])
    findings = diagnose(summary, timeout_seconds=20, memory_used_mib=1450, memory_limit_mib=1536)
    assert [finding["symptom"] for finding in findings] == [
        "80 HTTP 5xx under load", "20 requests timed out", "5 connections refused or reset",
        "memory 1450 MiB of 1536 MiB"]
    assert "workers or database connections exhausted" in findings[0]["cause"]
    assert "latency beyond the timeout" in findings[1]["cause"]
    assert "memory near the limit" in findings[3]["cause"]
    assert diagnose(summarize_runs([run(100.0, 100.0)]), 20, 500, 1536) == []


def test_a_p99_near_the_timeout_is_reported_without_timeouts():
    findings = diagnose(summarize_runs([run(100.0, 17000.0)]), timeout_seconds=20)
    assert [finding["symptom"] for finding in findings] == ["p99 17000 ms is near the 20 s timeout"]


def test_the_markdown_report():
    before, after = summarize_runs([run(100.0, 200.0)]), summarize_runs([run(180.0, 90.0)])
    text = markdown("gw-1", {"before": before, "after": after}, compare(before, after),
                    [{"name": "workers", "before": "2", "after": "5"}])
    assert "| requests/s (median) | 100.0 | 180.0 | 1.8 |" in text
    assert "| p99 ms (median) | 200.0 | 90.0 | 0.45 |" in text
    assert "- `workers`: 2 -> 5" in text


def test_a_warm_up_goes_on_while_each_round_is_faster_than_the_one_before():
    assert warmup_state([]) == "unchecked"
    assert warmup_state([run(25.0, 2000.0)]) == "unchecked"
    assert warmup_state([run(25.0, 2000.0), run(33.0, 1500.0)]) == "warming"
    # 5 % more is not more than the gain: the gateway no longer gets faster.
    assert warmup_state([run(25.0, 2000.0), run(33.0, 1500.0), run(34.6, 1400.0)]) == "settled"
    assert warmup_state([run(25.0, 2000.0), run(33.0, 1500.0), run(28.0, 2400.0)]) == "settled"
    assert warmup_state([run(25.0, 2000.0), run(28.0, 1500.0)], gain=0.2) == "settled"


def test_a_warm_up_round_without_a_throughput_ends_the_warm_up():
    limited = run(None, 5.0, statuses={"429": 300}, valid=False, reason="rate limited: results invalid")
    assert warmup_state([limited]) == "failed"
    assert warmup_state([run(30.0, 900.0), limited]) == "failed"


def test_the_warm_up_summary_and_its_row_in_the_report():
    warmup = summarize_warmup([run(25.04, 2000.0), run(33.0, 1500.0), run(32.0, 1400.0)])
    assert warmup == {"rounds": 3, "state": "settled", "requests": 3000,
                      "requests_per_second_runs": [25.0, 33.0, 32.0]}
    before, after = summarize_runs([run(100.0, 200.0)]), summarize_runs([run(101.0, 199.0)])
    before["warmup"] = warmup
    after["warmup"] = summarize_warmup([run(25.0, 2000.0), run(30.0, 1500.0)])
    text = markdown("gw-1", {"before": before, "after": after}, compare(before, after))
    assert "| warm-up rounds | 3 (settled) | 2 (still getting faster) |  |" in text
    assert "**after was still getting faster** when its warm-up ended (25.0 then 30.0 requests/s in its last " \
           "two rounds)" in text
    assert "before was still" not in text


def test_a_report_without_warm_ups_has_no_warm_up_row():
    before, after = summarize_runs([run(100.0, 200.0)]), summarize_runs([run(101.0, 199.0)])
    assert "warm-up" not in markdown("gw-1", {"before": before, "after": after}, compare(before, after))
