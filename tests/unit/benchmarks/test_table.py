# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""benchmarks/table.py: which configuration is the best of the sweep, the ratios, and the rows of
configurations that have no result."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.tests.unit.benchmarks.scripts import load_script

table = load_script("table.py")


def runs(requests_per_second, p99=100.0, errors=0, non_2xx=0):
    """Three load_test results around a median throughput."""
    return [{"valid": True, "requests_per_second": value, "latency_ms": {"p50": p99 / 2, "p99": p99},
             "requests": 1000, "non_2xx": non_2xx, "errors": errors, "status_codes": {"200": 1000 - non_2xx},
             "error_kinds": {}}
            for value in (requests_per_second - 1, requests_per_second, requests_per_second + 1)]


def small_vm_suite():
    names = ("upstream", "tuned-gunicorn", "tuned-granian", "gunicorn-1", "gunicorn-2", "gunicorn-3", "granian-1")
    memory = dict((name, {"limited": True, "limit_mib": 1024, "peak_mib": 600, "anonymous_mib": 550, "oom_kills": 0})
                  for name in names)
    memory["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 2}
    memory["granian-2"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 40}
    return {
        "host": "small", "cpus": 1.5, "memory_mib": 1024, "facts_cpus": 2, "facts_memory_mib": 24000,
        "runs": 3, "duration": 20, "concurrency": 200,
        "workers": {"upstream": 5, "tuned-gunicorn": 2, "tuned-granian": 1, "gunicorn-1": 1, "gunicorn-2": 2,
                    "gunicorn-3": 3, "granian-1": 1},
        "failed": {"granian-2": "Task failed: Timed out after 600 second(s).",
                   "granian-3": "not put on the machine: granian-2 already ran out of its memory"},
        "memory": memory,
        "phases": {"upstream": runs(90.0, errors=30), "tuned-gunicorn": runs(146.0), "tuned-granian": runs(119.0),
                   "gunicorn-1": runs(100.0), "gunicorn-2": runs(150.0), "gunicorn-3": runs(200.0),
                   "granian-1": runs(120.0)},
    }


def test_best_of_the_sweep_has_no_error_and_no_oom_kill():
    verdict = table.machine_rows(small_vm_suite())[1]
    # gunicorn-3 is faster but lost workers to the OOM killer: it is not a configuration to aim at.
    assert verdict["best"] == "gunicorn-2"
    gunicorn = verdict["plans"]["tuned-gunicorn"]
    assert gunicorn["best_same_server"] == "gunicorn-2"
    assert gunicorn["over_best_same_server"] == round(146.0 / 150.0, 3)
    assert gunicorn["over_best"] == round(146.0 / 150.0, 3)
    assert gunicorn["clean"] is True
    granian = verdict["plans"]["tuned-granian"]
    assert granian["best_same_server"] == "granian-1"
    assert granian["over_best_same_server"] == round(119.0 / 120.0, 3)
    assert verdict["best_plan"] == "tuned-gunicorn"
    assert verdict["best_plan_over_best"] == round(146.0 / 150.0, 3)
    assert verdict["upstream"] == {"upstream": {"default_plan_over": round(146.0 / 90.0, 3), "overlaps_default_plan": False,
                                                "clean": False}}
    assert verdict["met"] is True


def test_a_faster_other_server_is_met_by_its_own_plan():
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(180.0)
    suite["phases"]["tuned-granian"] = runs(178.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["best"] == "granian-1"
    assert verdict["plans"]["tuned-gunicorn"]["over_best"] == round(146.0 / 180.0, 3)
    assert verdict["plans"]["tuned-gunicorn"]["over_best_same_server"] == round(146.0 / 150.0, 3)
    assert verdict["plans"]["tuned-gunicorn"]["overlaps_best_same_server"] is False
    assert verdict["best_plan"] == "tuned-granian"
    assert verdict["best_plan_overlaps_best"] is True
    assert verdict["best_plan_over_best"] == round(178.0 / 180.0, 3)
    assert verdict["met"] is True
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn / best Gunicorn of the sweep (gunicorn-2): **0.973** (runs apart); / best of the sweep "
            "(granian-1): 0.811 (runs apart)") in text
    # 177 to 179 against 179 to 181: one run of each reaches the other's range.
    assert "- the faster plan (tuned-granian) / best of the sweep (granian-1): **0.989** (runs overlap)" in text


def test_the_target_needs_each_plan_near_its_own_server_and_the_faster_plan_near_the_best():
    # The Granian plan is far below the best Granian count: not met, though the Gunicorn plan is.
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(130.0)
    suite["phases"]["tuned-granian"] = runs(100.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["met_same_server"] is False
    assert verdict["plans"]["tuned-gunicorn"]["met_same_server"] is True
    assert verdict["met"] is False
    # Each plan is level with its server, but the faster server is not planned well enough.
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(200.0)
    suite["phases"]["tuned-granian"] = runs(140.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["best_plan"] == "tuned-gunicorn"
    assert verdict["best_plan_over_best"] == round(146.0 / 200.0, 3)
    assert verdict["met"] is False
    # A plan with an error fails the target whatever its throughput.
    suite = small_vm_suite()
    suite["phases"]["tuned-granian"] = runs(125.0, errors=3)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["clean"] is False
    assert verdict["met"] is False


def test_a_clean_plan_of_a_server_whose_every_count_failed_is_ahead_of_them():
    suite = small_vm_suite()
    suite["memory"]["granian-1"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 5}
    verdict = table.machine_rows(suite)[1]
    granian = verdict["plans"]["tuned-granian"]
    assert granian["best_same_server"] is None
    assert granian["over_best_same_server"] is None
    assert granian["met_same_server"] is True


def test_sweep_configurations_without_a_result_are_listed_with_the_reason():
    rows = table.machine_rows(small_vm_suite())[0]
    names = [row[0] for row in rows]
    assert names == ["upstream", "tuned-gunicorn", "tuned-granian", "granian-1", "granian-2", "granian-3",
                     "gunicorn-1", "gunicorn-2", "gunicorn-3"]
    reasons = dict((row[0], row[2]) for row in rows if isinstance(row[2], str))
    assert reasons == {"granian-2": "no result: Task failed: Timed out after 600 second(s).",
                       "granian-3": "no result: not put on the machine: granian-2 already ran out of its memory"}


def test_rendered_table_states_whether_the_target_is_met():
    text = table.render([small_vm_suite()], "2026-11-24")
    assert ("- tuned-gunicorn / best Gunicorn of the sweep (gunicorn-2): **0.973** (runs apart); / best of the sweep "
            "(gunicorn-2): 0.973 (runs apart)") in text
    assert "- tuned-gunicorn / upstream's defaults: **1.622** (runs apart) (upstream clean: no)" in text
    assert "with no error): **met**" in text
    # A suite from before the anonymous memory was read shows "-" for it.
    assert "| granian-2 | - | no result: Task failed: Timed out after 600 second(s). | | | | | 1024 of 1024 | - | 40 | |" in text
    # Each row shows its slowest and fastest run next to the median.
    assert "| **tuned-gunicorn** | 2 | 146.0 | 145.0 to 147.0 | 100.0 | 0 | 0 | 600 of 1024 | 550 | 0 | yes |" in text

    slow = small_vm_suite()
    slow["phases"]["tuned-gunicorn"] = runs(120.0)
    assert "with no error): **not met**" in table.render([slow], "2026-11-24")


def test_runs_overlap_when_either_reaches_into_the_other():
    def summary(values):
        return {"requests_per_second_runs": values}

    assert table.runs_overlap(summary([10.0, 12.0]), summary([12.0, 15.0])) is True
    assert table.runs_overlap(summary([10.0, 20.0]), summary([12.0, 13.0])) is True
    assert table.runs_overlap(summary([10.0, 11.9]), summary([12.0, 13.0])) is False
    assert table.runs_overlap(summary([]), summary([12.0])) is None
    assert table.runs_overlap(None, summary([12.0])) is None


def test_upstream_measured_again_after_the_sweep_gets_its_own_ratio_and_is_not_swept():
    suite = small_vm_suite()
    suite["phases"]["upstream"] = runs(160.0)
    suite["phases"]["upstream-again"] = runs(147.0)
    suite["workers"]["upstream-again"] = 5
    rows, verdict = table.machine_rows(suite)
    assert verdict["best"] == "gunicorn-2"
    assert verdict["upstream"]["upstream"]["default_plan_over"] == round(146.0 / 160.0, 3)
    assert verdict["upstream"]["upstream-again"] == {"default_plan_over": round(146.0 / 147.0, 3),
                                                     "overlaps_default_plan": True, "clean": True}
    assert [row[0] for row in rows][:2] == ["upstream", "upstream-again"]
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn / upstream's defaults measured again after the sweep: **0.993** (runs overlap) "
            "(upstream clean: yes)") in text

    # Where upstream answered no run, the suite does not measure it again: its line stays, with no ratio.
    del suite["phases"]["upstream"], suite["phases"]["upstream-again"]
    suite["failed"]["upstream"] = "Task failed: Timed out after 600 second(s)."
    text = table.render([suite], "2026-12-01")
    assert "- tuned-gunicorn / upstream's defaults: **-** (upstream clean: no)" in text
    assert "measured again" not in text


def test_a_plan_and_the_sweep_count_with_its_settings_show_how_far_one_configuration_moves_in_a_run():
    suite = small_vm_suite()
    plans = table.machine_rows(suite)[1]["plans"]
    # tuned-gunicorn runs 2 workers: gunicorn-2 has its settings.
    assert plans["tuned-gunicorn"]["same_settings"] == "gunicorn-2"
    assert plans["tuned-gunicorn"]["over_same_settings"] == round(146.0 / 150.0, 3)
    assert plans["tuned-granian"]["same_settings"] == "granian-1"
    text = table.render([suite], "2026-12-01")
    assert "  - the same settings as gunicorn-2, measured at another time of this run: 0.973 (runs apart)" in text
    assert "with no error): **met**\n" in text

    # The same settings 20 % faster at another time: the run cannot judge a 5 % target.
    suite["phases"]["gunicorn-2"] = runs(182.5)
    rows, verdict = table.machine_rows(suite)
    assert verdict["repeatable"] is False
    assert verdict["met"] is False
    assert ("with no error): **not met**; but a plan and the sweep count with its settings differ by more than 5 % "
            "in this run, so its ratios cannot tell 0.95 from below it") in table.render([suite], "2026-12-01")

    # A plan whose count the sweep lacks (skipped, or failed) has no such line.
    del suite["phases"]["granian-1"]
    assert table.machine_rows(suite)[1]["plans"]["tuned-granian"]["same_settings"] is None
