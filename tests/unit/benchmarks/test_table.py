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


ROUNDS = (1, 2, 3)


def small_vm_suite():
    """A sweep on a small VM, then three rounds of the two plans, each at its server's best count."""
    names = ("upstream", "gunicorn-1", "gunicorn-2", "gunicorn-3", "granian-1")
    names += tuple("%s@%d" % (plan, number) for number in ROUNDS for plan in ("tuned-gunicorn", "tuned-granian"))
    memory = dict((name, {"limited": True, "limit_mib": 1024, "peak_mib": 600, "anonymous_mib": 550, "oom_kills": 0})
                  for name in names)
    memory["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 2}
    memory["granian-2"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 40}
    suite = {
        "host": "small", "cpus": 1.5, "memory_mib": 1024, "facts_cpus": 2, "facts_memory_mib": 24000,
        "runs": 3, "duration": 20, "concurrency": 200,
        "workers": {"upstream": 5, "gunicorn-1": 1, "gunicorn-2": 2, "gunicorn-3": 3, "granian-1": 1},
        "failed": {"granian-2": "Task failed: Timed out after 600 second(s).",
                   "granian-3": "not put on the machine: granian-2 already ran out of its memory"},
        "memory": memory,
        "phases": {"upstream": runs(90.0, errors=30), "gunicorn-1": runs(100.0), "gunicorn-2": runs(150.0),
                   "gunicorn-3": runs(200.0), "granian-1": runs(120.0)},
    }
    for number in ROUNDS:
        add(suite, "tuned-gunicorn@%d" % number, runs(146.0), workers=2)
        add(suite, "tuned-granian@%d" % number, runs(119.0), workers=1)
    return suite


def add(suite, name, measured, workers):
    suite["phases"][name] = measured
    suite["workers"][name] = workers
    suite["memory"].setdefault(name, {"limited": True, "limit_mib": 1024, "peak_mib": 600, "anonymous_mib": 550,
                                      "oom_kills": 0})


def test_names_of_rounds():
    assert table.round_of("tuned-gunicorn@12") == 12
    assert table.round_of("gunicorn-3@2") == 2
    assert table.round_of("gunicorn-3") is None
    assert table.first_name("gunicorn-3@2") == "gunicorn-3"
    assert table.first_name("upstream-again") == "upstream-again"
    assert table.is_swept("granian-4") is True
    for name in ("granian-4@1", "tuned-granian@1", "upstream", "upstream-again"):
        assert table.is_swept(name) is False


def test_best_of_the_sweep_has_no_error_and_no_oom_kill():
    suite = small_vm_suite()
    verdict = table.machine_rows(suite)[1]
    # gunicorn-3 is faster but lost workers to the OOM killer: it is not a configuration to aim at.
    assert verdict["best"] == "gunicorn-2"
    assert verdict["rounds"] == 3
    gunicorn = verdict["plans"]["tuned-gunicorn"]
    # The plan runs 2 workers, gunicorn-2's settings: in each round it is the best itself.
    assert gunicorn["settings"] == ["gunicorn-2"]
    assert gunicorn["chose_best_same_server"] is True
    assert [entry["over_best_same_server"] for entry in gunicorn["rounds"]] == [1.0, 1.0, 1.0]
    assert gunicorn["over_best_same_server"] == 1.0 and gunicorn["over_best"] == 1.0
    assert gunicorn["clean"] is True
    granian = verdict["plans"]["tuned-granian"]
    # granian-2 failed: granian-1, the plan's own count, is the best Granian count; against the best
    # of the sweep, each round's Gunicorn plan runs its settings.
    assert granian["best_same_server"] == "granian-1"
    assert granian["over_best_same_server"] == 1.0
    assert granian["over_best"] == round(119.0 / 146.0, 3)
    assert verdict["best_plan"] == "tuned-gunicorn"
    assert verdict["best_plan_over_best"] == 1.0
    # The Gunicorn plan's nine runs in the rounds (145 to 147) against upstream's first measurement.
    assert verdict["upstream"] == {"upstream": {"default_plan_over": round(146.0 / 90.0, 3),
                                                "overlaps_default_plan": False, "clean": False}}
    assert verdict["met"] is True and verdict["met_in_every_round"] is True
    # Both plans run their server's best count: the rounds measure nothing beside them.
    assert table.round_counts(suite) == []


def test_a_plan_below_the_best_count_is_judged_beside_it_round_by_round():
    suite = small_vm_suite()
    suite["memory"]["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    suite["phases"]["gunicorn-3"] = runs(160.0)
    assert table.round_counts(suite) == [{"name": "gunicorn-3", "kind": "plan", "server": "gunicorn", "workers": 3}]
    # The host drifted: gunicorn-3 gives 147 to 156 in the rounds, not the sweep's 160, and the plan's
    # 146 in each round is judged against the round's own gunicorn-3.
    for number, rps in zip(ROUNDS, (150.0, 156.0, 147.0)):
        add(suite, "gunicorn-3@%d" % number, runs(rps), workers=3)
    rows, verdict = table.machine_rows(suite)
    plan = verdict["plans"]["tuned-gunicorn"]
    assert plan["best_same_server"] == "gunicorn-3" and plan["chose_best_same_server"] is False
    assert [entry["over_best_same_server"] for entry in plan["rounds"]] == [
        round(146.0 / 150.0, 3), round(146.0 / 156.0, 3), round(146.0 / 147.0, 3)]
    # Only in round 3 do the plan's runs (145 to 147) reach into gunicorn-3's (146 to 148).
    assert [entry["overlaps_best_same_server"] for entry in plan["rounds"]] == [False, False, True]
    assert plan["over_best_same_server"] == round(146.0 / 150.0, 3)
    assert plan["over_best_same_server_range"] == (round(146.0 / 156.0, 3), round(146.0 / 147.0, 3))
    assert verdict["best"] == "gunicorn-3"
    # Round 2 is below the target, the median is not.
    assert verdict["met"] is True and verdict["met_in_every_round"] is False
    assert [row[0] for row in rows] == [
        "upstream", "granian-1", "granian-2", "granian-3", "gunicorn-1", "gunicorn-2", "gunicorn-3",
        "tuned-granian@1", "tuned-gunicorn@1", "gunicorn-3@1", "tuned-granian@2", "tuned-gunicorn@2", "gunicorn-3@2",
        "tuned-granian@3", "tuned-gunicorn@3", "gunicorn-3@3"]
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn (gunicorn-2's settings, 3 rounds) / best Gunicorn count (gunicorn-3): **0.973**, "
            "rounds 0.936 to 0.993; / best of the sweep (gunicorn-3): 0.973, rounds 0.936 to 0.993") in text
    assert ("  - by round, / the best Gunicorn count and / the best of the sweep: "
            "1: 0.973 (runs apart) and 0.973 (runs apart); 2: 0.936 (runs apart) and 0.936 (runs apart); "
            "3: 0.993 (runs overlap) and 0.993 (runs overlap)") in text
    assert "| **tuned-gunicorn@2** | 2 | 146.0 | 145.0 to 147.0 |" in text
    assert "medians of 3 rounds): **met** on the medians of the rounds, not in every round" in text


def test_a_faster_other_server_is_met_by_its_own_plan():
    suite = small_vm_suite()
    suite["phases"]["granian-1"] = runs(180.0)
    for number in ROUNDS:
        suite["phases"]["tuned-granian@%d" % number] = runs(178.0)
    verdict = table.machine_rows(suite)[1]
    assert verdict["best"] == "granian-1"
    assert verdict["plans"]["tuned-gunicorn"]["over_best"] == round(146.0 / 178.0, 3)
    assert verdict["plans"]["tuned-gunicorn"]["over_best_same_server"] == 1.0
    assert verdict["best_plan"] == "tuned-granian"
    assert verdict["best_plan_over_best"] == 1.0
    assert verdict["met"] is True
    text = table.render([suite], "2026-12-01")
    assert "  - the plan chose the best Granian count" in text
    assert "- the faster plan (tuned-granian) / best of the sweep (granian-1): **1.000**, rounds 1.000 to 1.000" in text


def test_the_target_needs_each_plan_clean_and_near_the_best_count_of_its_server():
    # The Granian plan (1 worker) far below 2 Granian workers: not met, though the Gunicorn plan is.
    suite = small_vm_suite()
    del suite["failed"]["granian-2"]
    suite["memory"]["granian-2"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    add(suite, "granian-2", runs(150.0), workers=2)
    assert table.round_counts(suite) == [{"name": "granian-2", "kind": "plan", "server": "granian", "workers": 2}]
    for number in ROUNDS:
        add(suite, "granian-2@%d" % number, runs(150.0), workers=2)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["over_best_same_server"] == round(119.0 / 150.0, 3)
    assert verdict["plans"]["tuned-granian"]["met_same_server"] is False
    assert verdict["plans"]["tuned-gunicorn"]["met_same_server"] is True
    assert verdict["met"] is False
    # The plan's runs (118 to 120) are apart from granian-2's (149 to 151) in every round.
    assert verdict["short"] == [{"plan": "tuned-granian", "reference": "best Granian count (granian-2)",
                                 "value": round(119.0 / 150.0, 3), "overlapping_rounds": 0, "rounds": 3,
                                 "within": False}]
    assert ("- below the target: tuned-granian / best Granian count (granian-2) 0.793, "
            "its runs overlapping in 0 of 3 rounds") in table.render([suite], "2026-12-01")
    # An error in any round of a plan fails the target whatever the throughput.
    suite = small_vm_suite()
    suite["phases"]["tuned-granian@2"] = runs(119.0, errors=3)
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["clean"] is False
    assert verdict["met"] is False
    assert "2: 1.000 and 0.815 (runs apart) (not clean)" in table.render([suite], "2026-12-01")


def spread_runs(*requests_per_second):
    """Clean load_test results with the given throughputs, for runs that spread as on the test host."""
    return [dict(run, requests_per_second=value) for run, value in zip(runs(100.0), requests_per_second)]


def test_a_ratio_below_the_target_whose_runs_overlap_in_most_rounds_is_within_the_noise():
    suite = small_vm_suite()
    del suite["failed"]["granian-2"]
    suite["memory"]["granian-2"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    add(suite, "granian-2", runs(130.0), workers=2)
    # Medians 119 against 126 (0.944): in rounds 1 and 3 the plan's fastest run reaches past
    # granian-2's slowest, in round 2 all its runs are slower.
    for number, plan, count in zip(ROUNDS, ((110.0, 119.0, 135.0), (110.0, 119.0, 120.0), (100.0, 119.0, 131.0)),
                                   ((120.0, 126.0, 140.0), (121.0, 126.0, 128.0), (125.0, 126.0, 130.0))):
        suite["phases"]["tuned-granian@%d" % number] = spread_runs(*plan)
        add(suite, "granian-2@%d" % number, spread_runs(*count), workers=2)
    verdict = table.machine_rows(suite)[1]
    plan = verdict["plans"]["tuned-granian"]
    assert [entry["overlaps_best_same_server"] for entry in plan["rounds"]] == [True, False, True]
    assert plan["over_best_same_server"] == round(119.0 / 126.0, 3)
    assert plan["noise_same_server"] == {"overlapping_rounds": 2, "rounds": 3, "within": True}
    # Within the noise is not met: the target's verdict is unchanged.
    assert verdict["met"] is False
    text = table.render([suite], "2026-12-01")
    assert "medians of 3 rounds): **not met**\n" in text
    assert ("- within the noise, still not met: tuned-granian / best Granian count (granian-2) 0.944, "
            "its runs overlapping in 2 of 3 rounds") in text
    # A plan that is not clean is not within the noise, whatever its runs.
    suite["phases"]["tuned-granian@2"] = spread_runs(110.0, 119.0, 120.0)
    suite["phases"]["tuned-granian@2"][0]["errors"] = 1
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-granian"]["noise_same_server"] is None and verdict["short"] == []


def test_a_plan_whose_best_count_answered_in_no_round_cannot_be_judged():
    suite = small_vm_suite()
    suite["memory"]["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    for number in ROUNDS:
        suite["failed"]["gunicorn-3@%d" % number] = "Task failed: Timed out after 300 second(s)."
    verdict = table.machine_rows(suite)[1]
    plan = verdict["plans"]["tuned-gunicorn"]
    assert plan["best_same_server"] == "gunicorn-3"
    assert plan["over_best_same_server"] is None
    assert plan["met_same_server"] is False
    assert verdict["met"] is False


def test_a_clean_plan_of_a_server_whose_every_count_failed_is_ahead_of_them():
    suite = small_vm_suite()
    # The Granian plan runs 2 workers, a count the sweep did not put on the machine; 1 worker lost
    # workers to the OOM killer.
    for number in ROUNDS:
        suite["workers"]["tuned-granian@%d" % number] = 2
    suite["failed"]["granian-2"] = "not put on the machine: granian-1 already ran out of its memory"
    suite["memory"]["granian-1"] = {"limited": True, "limit_mib": 1024, "peak_mib": 1024, "oom_kills": 5}
    verdict = table.machine_rows(suite)[1]
    granian = verdict["plans"]["tuned-granian"]
    assert granian["settings"] == ["granian-2"]
    assert granian["best_same_server"] is None
    assert granian["over_best_same_server"] is None
    assert granian["met_same_server"] is True
    assert table.round_counts(suite) == []


def test_configurations_without_a_result_are_listed_with_the_reason():
    suite = small_vm_suite()
    suite["failed"]["tuned-granian@3"] = "One or more items failed"
    del suite["phases"]["tuned-granian@3"], suite["workers"]["tuned-granian@3"]
    rows, verdict = table.machine_rows(suite)
    reasons = dict((row[0], row[2]) for row in rows if isinstance(row[2], str))
    assert reasons == {"granian-2": "no result: Task failed: Timed out after 600 second(s).",
                       "granian-3": "no result: not put on the machine: granian-2 already ran out of its memory",
                       "tuned-granian@3": "no result: One or more items failed"}
    # A plan that did not come up in a round is not clean.
    assert verdict["plans"]["tuned-granian"]["clean"] is False
    assert "3: no result" in table.render([suite], "2026-12-01")


def test_rendered_table_states_whether_the_target_is_met():
    text = table.render([small_vm_suite()], "2026-11-24")
    assert "median, 20 s per request at most;" in text
    assert ("- tuned-gunicorn (gunicorn-2's settings, 3 rounds) / best Gunicorn count (gunicorn-2): **1.000**, "
            "rounds 1.000 to 1.000; / best of the sweep (gunicorn-2): 1.000, rounds 1.000 to 1.000") in text
    assert "  - the plan chose the best Gunicorn count" in text
    assert ("- tuned-gunicorn (all its runs in the rounds) / upstream's defaults: **1.622** (runs apart) "
            "(upstream clean: no)") in text
    assert "medians of 3 rounds): **met** in every round\n" in text
    # A suite from before the anonymous memory was read shows "-" for it.
    assert ("| granian-2 | - | no result: Task failed: Timed out after 600 second(s). | | | | | 1024 of 1024 | - | 40 | - "
            "| |") in text
    # Each row shows its slowest and fastest run next to the median.
    assert "| **tuned-gunicorn@1** | 2 | 146.0 | 145.0 to 147.0 | 100.0 | 0 | 0 | 600 of 1024 | 550 | 0 | - | yes |" in text
    # The peak sessions the resource watch sampled, the peak of a configuration's rounds.
    watched = small_vm_suite()
    watched["resources"] = {"tuned-gunicorn@1": [{"peak_db_sessions": 7}, {"peak_db_sessions": 9}]}
    assert ("| **tuned-gunicorn@1** | 2 | 146.0 | 145.0 to 147.0 | 100.0 | 0 | 0 | 600 of 1024 | 550 | 0 | 9 | yes |"
            in table.render([watched], "2026-11-24"))

    slow = small_vm_suite()
    slow["request_timeout"] = 60
    slow["memory"]["gunicorn-3"] = {"limited": True, "limit_mib": 1024, "peak_mib": 900, "oom_kills": 0}
    assert "median, 60 s per request at most;" in table.render([slow], "2026-11-24")
    # gunicorn-3 is now the best count, and no round measured it beside the plan.
    assert "**not met**" in table.render([slow], "2026-11-24")


def test_a_suite_that_stopped_before_the_rounds_judges_nothing():
    suite = small_vm_suite()
    for name in [name for name in suite["phases"] if table.round_of(name)]:
        del suite["phases"][name]
    verdict = table.machine_rows(suite)[1]
    assert verdict["rounds"] == 0 and verdict["met"] is False
    assert "**not met**; no round was measured, so no plan could be judged" in table.render([suite], "2026-12-01")


def test_upstream_measured_again_at_the_end_gets_its_own_ratio_and_is_not_swept():
    suite = small_vm_suite()
    suite["phases"]["upstream"] = runs(160.0)
    add(suite, "upstream-again", runs(147.0), workers=5)
    rows, verdict = table.machine_rows(suite)
    assert verdict["best"] == "gunicorn-2"
    assert verdict["upstream"]["upstream"]["default_plan_over"] == round(146.0 / 160.0, 3)
    assert verdict["upstream"]["upstream-again"] == {"default_plan_over": round(146.0 / 147.0, 3),
                                                     "overlaps_default_plan": True, "clean": True}
    assert [row[0] for row in rows][:2] == ["upstream", "upstream-again"]
    text = table.render([suite], "2026-12-01")
    assert ("- tuned-gunicorn (all its runs in the rounds) / upstream's defaults measured again at the end: "
            "**0.993** (runs overlap) (upstream clean: yes)") in text

    # Where upstream answered no run, the suite does not measure it again: its line stays, with no ratio.
    del suite["phases"]["upstream"], suite["phases"]["upstream-again"]
    suite["failed"]["upstream"] = "Task failed: Timed out after 600 second(s)."
    text = table.render([suite], "2026-12-01")
    assert "- tuned-gunicorn (all its runs in the rounds) / upstream's defaults: **-** (upstream clean: no)" in text
    assert "upstream's defaults measured again" not in text


def test_settings_of_each_configuration():
    suite = small_vm_suite()
    suite["workers"]["tuned-gunicorn@2"] = 3
    assert table.settings_key(suite, "tuned-gunicorn@1") == ("gunicorn", 2)
    # A plan is keyed by the workers it planned that round.
    assert table.settings_key(suite, "tuned-gunicorn@2") == ("gunicorn", 3)
    assert table.settings_key(suite, "granian-4@2") == ("granian", 4)
    assert table.settings_key(suite, "upstream-again") == ("upstream",)
    # A plan that did not come up has no worker count: its own settings.
    del suite["workers"]["tuned-granian@1"]
    assert table.settings_key(suite, "tuned-granian@1") == ("tuned-granian",)
    # A plan whose count changed between rounds says so.
    verdict = table.machine_rows(suite)[1]
    assert verdict["plans"]["tuned-gunicorn"]["settings"] == ["gunicorn-2", "gunicorn-3"]
    assert "settings gunicorn-2, gunicorn-3: the plan changed between rounds" in table.render([suite], "2026-12-01")
