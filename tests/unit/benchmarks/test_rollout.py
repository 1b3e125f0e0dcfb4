# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""benchmarks/rollout.py: the figures of a phase, the summary per rollout kind, the order of runs."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import parse_hey
from ansible_collections.mcpgateway.tuning.tests.unit.benchmarks.scripts import load_script

rollout = load_script("rollout.py")

HEY = """
Summary:
  Total:\t20.0012 secs
  Slowest:\t2.1000 secs
  Fastest:\t0.0100 secs
  Average:\t0.1000 secs
  Requests/sec:\t%(rps)s

Latency distribution:
  50%% in 0.0900 secs
  99%% in %(p99)s secs

Status code distribution:
  [200]\t%(ok)d responses
%(bad)s
Error distribution:
%(errors)s
"""


def report(p99, ok, bad="", errors="", rps="50.0"):
    return parse_hey(HEY % dict(p99=p99, ok=ok, bad=bad, errors=errors, rps=rps))


def test_a_phase_counts_non_2xx_answers_and_requests_without_one_as_failed():
    phase = rollout.phase_figures(report("0.5000", 900, bad="  [503]\t40 responses\n",
                                         errors="  [12]\tPost \"http://127.0.0.1:1/rpc\": EOF\n"))
    assert phase["requests"] == 952 and phase["failed"] == 52
    assert phase["status_codes"] == {"200": 900, "503": 40}
    assert phase["p99_ms"] == 500.0 and phase["p50_ms"] == 90.0


def row(kind, during, before, after, seconds=60.0):
    return {"rollout": kind, "round": 1, "settings": {"tune_workers": 1}, "tune_seconds": seconds, "restarts": 2,
            "reloads": 0,
            "phases": {"before": rollout.phase_figures(before), "during": rollout.phase_figures(during),
                       "after": rollout.phase_figures(after)}}


def test_the_summary_compares_p99_during_rollouts_with_the_phases_outside_them():
    rows = [
        row("drained", report("0.9000", 1000), report("0.2000", 800), report("0.4000", 800), 70.0),
        row("restart", report("0.3000", 500, bad="  [503]\t7000 responses\n"), report("0.2000", 800),
            report("0.2000", 800)),
        row("drained", report("1.1000", 1100), report("0.3000", 800), report("0.3000", 800), 80.0),
    ]
    summary = rollout.summarize(rows)
    assert summary["drained"] == {
        "rollouts": 2, "requests_during": 2100, "failed_during": 0, "failed_outside": 0, "rollout_seconds": 75.0,
        # The median of 900 and 1100 during, of 200, 400, 300 and 300 outside.
        "p99_during_ms": 1000.0, "p99_outside_ms": 300.0, "p99_ratio": 3.33}
    assert summary["restart"]["failed_during"] == 7000 and summary["restart"]["requests_during"] == 7500


def test_a_kind_without_runs_is_left_out_and_the_section_lists_every_run():
    rows = [dict(row("restart", report("0.3000", 500, bad="  [503]\t70 responses\n"), report("0.2000", 800),
                     report("0.2000", 800)), round=1)]
    results = {"date": "2026-12-04", "host": "test", "haproxy": "2.6.12", "concurrency": 8, "outside_seconds": 20,
               "rounds": 1, "rollout": rows, "summary": rollout.summarize(rows)}
    assert list(results["summary"]) == ["restart"]
    text = rollout.section(results)
    assert text.startswith(rollout.SECTION_START) and text.endswith(rollout.SECTION_END)
    assert "| restart | 1 | 2 restarts | 60 | 570 | 70 | 200 / 300 / 200 | 70 × 503 |" in text


def test_rounds_run_the_kinds_in_turns():
    assert rollout.order(2) == [(1, "restart"), (1, "drained"), (1, "reload"), (1, "reload-drained"),
                                (2, "reload-drained"), (2, "reload"), (2, "drained"), (2, "restart")]
