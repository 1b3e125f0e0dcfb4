# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcpgateway.tuning.benchmark_report: summarize, compare and report benchmark phases on the controller.

Wires the play to plugins/plugin_utils/benchmark.py and writes the report files.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.action import ActionBase

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.benchmark import (
    BenchmarkError,
    chart_png,
    compare,
    diagnose,
    markdown,
    request_problem,
    resources_of,
    summarize_runs,
    summarize_warmup,
    unmeasured,
)

ARGUMENT_SPEC = dict(
    phases=dict(type="dict", required=True),
    warmups=dict(type="dict", default={}),
    resources=dict(type="dict", default={}),
    errors=dict(type="dict", default={}),
    host=dict(type="str"),
    changes=dict(type="list", elements="dict", default=[]),
    settings=dict(type="dict", default={}),
    timeout_seconds=dict(type="float"),
    memory_used_mib=dict(type="float"),
    memory_limit_mib=dict(type="float"),
    tolerance=dict(type="float", default=0.05),
    report_dir=dict(type="path"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = args["host"] or (task_vars or {}).get("inventory_hostname", "gateway")
        problem = request_problem(args["phases"], host, args["tolerance"],
                                  dict((name, args[name]) for name in ("timeout_seconds", "memory_used_mib",
                                                                       "memory_limit_mib")))
        if problem:
            result.update(failed=True, msg=problem)
            return result
        try:
            summaries = dict((name, unmeasured(args["errors"][name]) if args["errors"].get(name)
                              else summarize_runs(runs)) for name, runs in args["phases"].items())
            for name, rounds in args["warmups"].items():
                if name in summaries and rounds:
                    summaries[name]["warmup"] = summarize_warmup(rounds)
        except (BenchmarkError, KeyError, TypeError, AttributeError) as error:
            result.update(failed=True, msg="the phases and warm-ups are not lists of load_test results: %s" % error)
            return result
        for name, watched in args["resources"].items():
            if name in summaries:
                if not isinstance(watched, (dict, list)) or isinstance(watched, list) and not all(
                        isinstance(watch, dict) for watch in watched):
                    result.update(failed=True, msg="resources.%s is not a resource_watch result or a list of them"
                                  % name)
                    return result
                summaries[name].update(resources_of(watched))
        comparison = None
        if "before" in summaries and "after" in summaries:
            comparison = compare(summaries["before"], summaries["after"], args["tolerance"])
        # Every phase is diagnosed: what failed before the tuning is what the tuning had to fix.
        last = list(summaries)[-1]
        diagnoses = dict((name, diagnose(summary, args["timeout_seconds"],
                                         (args["memory_used_mib"] if name == last else None)
                                         or summary.get("peak_memory_mib"),
                                         args["memory_limit_mib"], summary.get("log_signs")))
                         for name, summary in summaries.items())
        diagnosis = diagnoses[last]
        text = markdown(host, summaries, comparison, args["changes"], diagnoses)
        files = []
        if args["report_dir"] and not self._task.check_mode:
            base = os.path.join(args["report_dir"], "%s.benchmark" % host)
            try:
                os.makedirs(args["report_dir"], exist_ok=True)
                with open(base + ".md", "w") as handle:
                    handle.write(text)
                with open(base + ".json", "w") as handle:
                    json.dump({"host": host, "phases": summaries, "comparison": comparison,
                               "changes": args["changes"], "settings": args["settings"], "diagnosis": diagnosis,
                               "diagnoses": diagnoses}, handle, indent=2, sort_keys=True)
                files = [base + ".md", base + ".json"]
                if chart_png(base + ".png", host, summaries):
                    files.append(base + ".png")
            except OSError as error:
                result.update(failed=True, msg="cannot write the report into report_dir %s on the controller: %s. "
                                               "Choose a folder the controller's user may create and write"
                              % (args["report_dir"], error.strerror or error))
                return result
        result.update(changed=False, phases=summaries, comparison=comparison, diagnosis=diagnosis, diagnoses=diagnoses,
                      markdown=text,
                      files=files, chart=any(path.endswith(".png") for path in files))
        return result
