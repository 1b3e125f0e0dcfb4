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
    # The plan runs 2 workers: gunicorn-2's settings, so both measurements are of one configuration,
    # and their runs pooled (145 to 151) have the median 148.
    assert gunicorn["settings"] == "gunicorn-2"
    assert gunicorn["measured_as"] == ["gunicorn-2", "tuned-gunicorn"]
    assert gunicorn["agreement"] == round(146.0 / 150.0, 3)
    assert gunicorn["requests_per_second"] == 148.0
    assert gunicorn["best_same_server"] == "gunicorn-2"
    assert gunicorn["over_best_same_server"] == 1.0
    assert gunicorn["over_best"] == 1.0
    assert gunicorn["clean"] is True
    granian = verdict["plans"]["tuned-granian"]
    # granian-2 failed: granian-1, the plan's own count, is the best Granian count.
    assert granian["best_same_server"] == "granian-1"
    assert granian["over_best_same_server"] == 1.0
    assert verdict["best_plan"] == "tuned-gunicorn"
    assert verdict["best_plan_over_best"] == 1.0
    assert verdict["upstream"] == {"upstream": {"default_plan_over": round(148.0 / 90.0, 3), "overlaps_default_plan": False,
                                                "clean": False}}
    assert verdict["met"] is True
    assert verdict["repeatable"] is True


def test_a_plan_below_the_best_count_is_measured_again_beside_it_and_judged_on_every_run():
    suite = small_vm_suite()
    suite["memory"]["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    suite["phases"]["gunicorn-3"] = runs(160.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-gunicorn"]["best_same_server"] == "gunicorn-3"
    assert verdict["plans"]["tuned-gunicorn"]["over_best_same_server"] == round(148.0 / 160.0, 3)
    assert verdict["met"] is False
    # The suite measures the best count again, then the plan; not the Granian plan, which chose its best.
    assert table.confirmations(suite) == [
        {"name": "gunicorn-3-again", "kind": "plan", "server": "gunicorn", "workers": 3, "again": "gunicorn-3"},
        {"name": "tuned-gunicorn-again", "kind": "plan", "server": "gunicorn", "again": "tuned-gunicorn"}]

    suite["phases"]["gunicorn-3-again"] = runs(150.0)
    suite["phases"]["tuned-gunicorn-again"] = runs(149.0)
    suite["workers"].update({"gunicorn-3-again": 3, "tuned-gunicorn-again": 2})
    rows, verdict = table.machine_rows(suite)
    plan = verdict["plans"]["tuned-gunicorn"]
    assert plan["measured_as"] == ["gunicorn-2", "tuned-gunicorn", "tuned-gunicorn-again"]
    assert verdict["best_measured_as"] == ["gunicorn-3", "gunicorn-3-again"]
    # Medians of all runs: 149 (145 to 151, nine runs) against 155 (149 to 161, six runs).
    assert plan["requests_per_second"] == 149.0
    assert plan["over_best_same_server"] == round(149.0 / 155.0, 3)
    assert plan["back_to_back"] == round(149.0 / 150.0, 3)
    assert plan["back_to_back_overlap"] is True
    assert verdict["met"] is True
    # The two measurements of gunicorn-3 differ by 6 %: the run cannot judge the target.
    assert verdict["repeatable"] is False
    assert [row[0] for row in rows] == ["upstream", "tuned-gunicorn", "tuned-granian", "tuned-gunicorn-again",
                                        "granian-1", "granian-2", "granian-3", "gunicorn-1", "gunicorn-2",
                                        "gunicorn-3", "gunicorn-3-again"]
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn (gunicorn-2's settings, measured 3 times (gunicorn-2, tuned-gunicorn, "
            "tuned-gunicorn-again), slowest / fastest 0.973) / best Gunicorn count (gunicorn-3): **0.961** (runs overlap)"
            ) in text
    assert "  - measured back to back after the sweep, tuned-gunicorn-again / gunicorn-3-again: 0.993 (runs overlap)" in text
    assert "- the best of the sweep: gunicorn-3 (measured as gunicorn-3, gunicorn-3-again)" in text
    assert "**met**; but settings judged here, measured at different times of this run, differ by more than 5 %" in text
    # Each is measured again once.
    assert table.confirmations(suite) == []


def test_a_faster_other_server_is_met_by_its_own_plan():
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(180.0)
    suite["phases"]["tuned-granian"] = runs(178.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["best"] == "granian-1"
    # Granian's 1-worker runs pooled: 177 to 181, median 179.
    assert verdict["plans"]["tuned-gunicorn"]["over_best"] == round(148.0 / 179.0, 3)
    assert verdict["plans"]["tuned-gunicorn"]["over_best_same_server"] == 1.0
    assert verdict["plans"]["tuned-gunicorn"]["overlaps_best"] is False
    assert verdict["best_plan"] == "tuned-granian"
    assert verdict["best_plan_overlaps_best"] is True
    assert verdict["best_plan_over_best"] == 1.0
    assert verdict["met"] is True
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn (gunicorn-2's settings, measured 2 times (gunicorn-2, tuned-gunicorn), slowest / fastest "
            "0.973) / best Gunicorn count (gunicorn-2): **1.000** (runs overlap); / best of the sweep (granian-1): "
            "0.827 (runs apart)") in text
    assert "  - the plan chose the best Granian count" in text
    assert "- the faster plan (tuned-granian) / best of the sweep (granian-1): **1.000** (runs overlap)" in text


def test_the_target_needs_each_plan_clean_and_near_the_best_count_of_its_server():
    # The Granian plan (1 worker) far below 2 Granian workers: not met, though the Gunicorn plan is.
    suite = small_vm_suite()
    del suite["failed"]["granian-2"]
    suite["memory"]["granian-2"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    suite["phases"]["granian-2"] = runs(150.0)
    suite["workers"]["granian-2"] = 2
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["over_best_same_server"] == round(119.5 / 150.0, 3)
    assert verdict["plans"]["tuned-granian"]["met_same_server"] is False
    assert verdict["plans"]["tuned-gunicorn"]["met_same_server"] is True
    assert verdict["met"] is False
    # An error in any measurement of the plan's settings fails the target whatever the throughput.
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(120.0, errors=3)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["clean"] is False
    assert verdict["met"] is False


def test_a_clean_plan_of_a_server_whose_every_count_failed_is_ahead_of_them():
    suite = small_vm_suite()
    # The Granian plan runs 2 workers, a count the sweep did not put on the machine; 1 worker lost
    # workers to the OOM killer.
    suite["workers"]["tuned-granian"] = 2
    suite["failed"]["granian-2"] = "not put on the machine: granian-1 already ran out of its memory"
    suite["memory"]["granian-1"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 5}
    verdict = table.machine_rows(suite)[1]
    granian = verdict["plans"]["tuned-granian"]
    assert granian["settings"] == "granian-2"
    assert granian["measured_as"] == ["tuned-granian"]
    assert granian["best_same_server"] is None
    assert granian["over_best_same_server"] is None
    assert granian["met_same_server"] is True
    assert table.confirmations(suite) == []


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
    assert "median, 20 s per request at most;" in text
    assert ("- tuned-gunicorn (gunicorn-2's settings, measured 2 times (gunicorn-2, tuned-gunicorn), slowest / fastest "
            "0.973) / best Gunicorn count (gunicorn-2): **1.000** (runs overlap); / best of the sweep (gunicorn-2): "
            "1.000 (runs overlap)") in text
    assert "  - the plan chose the best Gunicorn count" in text
    assert "- tuned-gunicorn / upstream's defaults: **1.644** (runs apart) (upstream clean: no)" in text
    assert "with no error): **met**\n" in text
    # A suite from before the anonymous memory was read shows "-" for it.
    assert "| granian-2 | - | no result: Task failed: Timed out after 600 second(s). | | | | | 1024 of 1024 | - | 40 | |" in text
    # Each row shows its slowest and fastest run next to the median.
    assert "| **tuned-gunicorn** | 2 | 146.0 | 145.0 to 147.0 | 100.0 | 0 | 0 | 600 of 1024 | 550 | 0 | yes |" in text

    slow = small_vm_suite()
    slow["request_timeout"] = 60
    slow["memory"]["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    assert "median, 60 s per request at most;" in table.render([slow], "2026-11-24")
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
    assert verdict["upstream"]["upstream"]["default_plan_over"] == round(148.0 / 160.0, 3)
    assert verdict["upstream"]["upstream-again"] == {"default_plan_over": round(148.0 / 147.0, 3),
                                                     "overlaps_default_plan": True, "clean": True}
    assert [row[0] for row in rows][:2] == ["upstream", "upstream-again"]
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn / upstream's defaults measured again after the sweep: **1.007** (runs overlap) "
            "(upstream clean: yes)") in text

    # Where upstream answered no run, the suite does not measure it again: its line stays, with no ratio.
    del suite["phases"]["upstream"], suite["phases"]["upstream-again"]
    suite["failed"]["upstream"] = "Task failed: Timed out after 600 second(s)."
    text = table.render([suite], "2026-12-01")
    assert "- tuned-gunicorn / upstream's defaults: **-** (upstream clean: no)" in text
    assert "upstream's defaults measured again" not in text


def test_settings_measured_far_apart_in_one_run_cannot_judge_the_target():
    suite = small_vm_suite()
    # The plan's settings 25 % faster when the sweep measured them.
    suite["phases"]["gunicorn-2"] = runs(182.5)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-gunicorn"]["agreement"] == round(146.0 / 182.5, 3)
    assert verdict["repeatable"] is False
    assert ("but settings judged here, measured at different times of this run, differ by more than 5 %, so its "
            "ratios cannot tell 0.95 from below it") in table.render([suite], "2026-12-01")


def test_settings_of_each_configuration():
    suite = small_vm_suite()
    suite["workers"]["tuned-gunicorn-again"] = 3
    assert table.settings_key(suite, "tuned-gunicorn") == ("gunicorn", 2)
    # A plan measured again is keyed by the workers it planned that time.
    assert table.settings_key(suite, "tuned-gunicorn-again") == ("gunicorn", 3)
    assert table.settings_key(suite, "granian-4-again") == ("granian", 4)
    assert table.settings_key(suite, "upstream-again") == ("upstream",)
    # A plan that did not come up has no worker count: its own settings.
    del suite["workers"]["tuned-granian"]
    assert table.settings_key(suite, "tuned-granian") == ("tuned-granian",)
