#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The report is made on the controller by the action plugin of the same name
# (plugins/action/benchmark_report.py); this file carries its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: benchmark_report
short_description: Summarize benchmark phases, compare before and after, diagnose, and write the report
version_added: 1.0.0
description:
  - Turns the results of repeated M(mcpgateway.tuning.load_test) runs, by phase, into the median
    throughput and latency of each phase and the sums of their failures.
  - With a C(before) and an C(after) phase, returns a verdict, V(better), V(no measurable change) or V(worse),
    overall and for each figure. Throughput (of the requests answered with a 2xx) and p99 change measurably only
    when every run of one phase lies beyond every run of the other and the medians differ by more than
    O(tolerance); a difference within the spread of the runs is no measurable change. Failed requests and OOM
    kills are judged on their own, any increase is V(worse). Overall the verdict is V(worse) when any figure is,
    V(better) when one is and none is worse. A phase with a rate-limited or unanswered run is invalid and is not
    compared.
  - With O(resources), each phase's peak memory, OOM kills and peak database sessions join the table, and the
    gateway's log lines during the last phase tell database exhaustion (HTTP 401 or 5xx with PostgreSQL refusing
    sessions) from other failures.
  - Applies the tuning guide's bottleneck table to each phase (5xx under load, latency near the timeout,
    refused connections, memory near the limit), each with its likely cause and mitigation.
  - Writes C(<host>.benchmark.md), C(<host>.benchmark.json) and, when matplotlib is installed on the controller,
    C(<host>.benchmark.png) to O(report_dir).
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
attributes:
  check_mode:
    support: full
    description: Computes the same report in check mode and writes no file.
  diff_mode:
    support: none
    description: Changes nothing on the managed host.
  action:
    support: full
    description: Implemented as an action plugin, run on the controller.
options:
  phases:
    description: Phase name to the list of registered M(mcpgateway.tuning.load_test) results of its runs, in order.
    type: dict
    required: true
  warmups:
    description:
      - Phase name to the list of registered M(mcpgateway.tuning.load_test) results of its warm-up rounds, in order.
      - The report shows each phase's rounds and whether its last round was still faster than the one before by
        more than 5 %, when its runs may have measured a gateway still warming up.
    type: dict
    default: {}
  resources:
    description:
      - Phase name to the M(mcpgateway.tuning.resource_watch) result of its runs (C(peak_memory_mib), C(oom_kills),
        C(peak_db_sessions), C(log_signs)), or to a list of them for a phase measured in several rounds (the peaks
        of all, the sums of OOM kills and log lines).
    type: dict
    default: {}
  errors:
    description:
      - Phase name to the error that stopped its load (the check request refused, hey failed), for a phase whose
        runs could not be measured. An C(after) that could not be measured, when C(before) could, is V(worse).
    type: dict
    default: {}
  host:
    description: The name the report carries; the inventory hostname by default.
    type: str
  changes:
    description: Settings that changed between the phases (C(name), C(before), C(after)), as the tune role's summary lists them.
    type: list
    elements: dict
    default: []
  settings:
    description: The settings in effect in the last phase, kept in the JSON report.
    type: dict
    default: {}
  timeout_seconds:
    description: The server's request timeout, to tell a p99 near it.
    type: float
  memory_used_mib:
    description: Memory the gateway's service used in the last phase; its peak in O(resources) by default.
    type: float
  memory_limit_mib:
    description: Memory the service may use (M(mcpgateway.tuning.capacity_info)'s effective memory).
    type: float
  tolerance:
    description: Share by which the medians of throughput or p99 must differ, beyond the runs' spread, to be a measurable change.
    type: float
    default: 0.05
  report_dir:
    description: Folder on the controller for the report files; none are written without it.
    type: path
"""

EXAMPLES = r"""
- name: Report before and after
  mcpgateway.tuning.benchmark_report:
    phases:
      before: "{{ before_runs.results }}"
      after: "{{ after_runs.results }}"
    report_dir: "{{ playbook_dir }}/reports"
  register: report               # report.comparison.requests_per_second_ratio, report.markdown
"""

RETURN = r"""
phases:
  description: For each phase, C(requests_per_second) and C(ok_requests_per_second) (all answers, and those with a
    2xx), C(p50_ms), C(p99_ms) (medians), C(requests_per_second_runs), C(ok_requests_per_second_runs), C(p99_ms_runs),
    C(spread), C(requests), C(non_2xx), C(server_errors), C(errors), C(status_codes), C(error_kinds), C(valid) and
    C(invalid_reasons); with O(resources), C(peak_memory_mib), C(oom_kills), C(peak_db_sessions) and C(log_signs);
    with its warm-up in O(warmups), C(warmup) with its C(rounds), C(requests), C(requests_per_second_runs) and
    C(state) (V(unchecked) with one round, V(settled), V(warming) when the last round was still faster, V(failed)
    when it had no throughput).
  returned: success
  type: dict
comparison:
  description: >-
    C(verdict) (V(better), V(no measurable change), V(worse); null when not C(comparable)), C(verdicts) for
    C(throughput), C(p99), C(failed_requests) and C(oom_kills), C(reasons) (the deciding figures first),
    C(regression) (the verdict is V(worse): what the benchmark role's gate acts on), C(requests_per_second_ratio)
    (of 2xx throughput), C(p99_ratio), and C(runs_overlap) and C(p99_runs_overlap), whether the two phases' runs
    overlap in throughput and in p99; null without both phases.
  returned: success
  type: dict
diagnosis:
  description: Findings of the bottleneck table for the last phase, each with C(symptom), C(cause) and C(mitigation).
  returned: success
  type: list
  elements: dict
diagnoses:
  description: Findings of the bottleneck table for each phase, by phase name (the report shows them all).
  returned: success
  type: dict
markdown:
  description: The report as a Markdown section.
  returned: success
  type: str
files:
  description: Files written on the controller.
  returned: success
  type: list
  elements: str
chart:
  description: Whether the PNG chart was written.
  returned: success
  type: bool
"""
