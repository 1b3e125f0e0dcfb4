# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo's path with a shorter load: a gateway of its own started with upstream's settings inside
a cgroup of 1.5 CPUs and 1 GiB, on a PostgreSQL whose gateway role may open 20 sessions, then the
site playbook (benchmark, tune, benchmark) and the summary the demo prints its headline from."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from harness.cgroups import CgroupUnavailable, LimitedCgroup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))

import demo  # noqa: E402 pylint: disable=wrong-import-position

# One run of 300 requests after at most two warm-up rounds: the path, not the demo's figures.
SHORT_LOAD = {"benchmark_runs": 1, "benchmark_requests": 300, "benchmark_concurrency": 100,
              "benchmark_warmup_requests": 200, "benchmark_warmup_rounds": 2, "benchmark_timeout": 30}


def cgroup_unavailable():
    probe = LimitedCgroup("mcpgw-test-probe", cpus=1, memory_bytes=demo.LIMIT_MEMORY)
    try:
        probe.create()
    except CgroupUnavailable as reason:
        return str(reason)
    probe.remove()
    return None


pytestmark = [
    pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)"),
    pytest.mark.skipif(cgroup_unavailable() is not None, reason="the demo's cgroup: %s" % cgroup_unavailable()),
]


def test_the_demo_tunes_upstream_settings_inside_the_small_cgroup(tmp_path_factory):
    # A short folder: supervisord's unix socket path must fit in 108 bytes.
    folder = tmp_path_factory.mktemp("demo")
    reports = str(folder / "reports")
    summary = demo.run_demo("demo-db-pass-Hq71x", str(folder / "gw"), reports, SHORT_LOAD)

    # Before: upstream's worker count, from the CPUs nproc shows, not the cgroup's quota.
    assert summary["before"]["workers"] == min(2 * len(os.sched_getaffinity(0)) + 1, 16)
    assert summary["limit"] == "a cgroup of 1.5 CPUs and 1024 MiB"
    capacity = summary["tuned"]["capacity"]
    assert capacity["cpus"] == 1.5 and capacity["memory_mib"] == 1024
    # After: the plan's workers and pools fit the cgroup and the role's 20 sessions, and the load shows it.
    after = summary["after"]
    assert after["workers"] < summary["before"]["workers"]
    assert after["failed"] == 0 and after["oom_kills"] == 0
    assert 0 < after["peak_db_sessions"] <= demo.ROLE_CONNECTION_LIMIT
    assert 0 < after["peak_memory_mib"] < 1024
    assert after["requests"] == 300
    for phase in (summary["before"], summary["after"]):
        assert set(phase) >= {"workers", "requests", "failed", "oom_kills", "requests_per_second", "p99_ms",
                              "peak_memory_mib", "peak_db_sessions"}
    assert summary["verdict"] in ("better", "no measurable change", "worse")
    assert summary["headline"].startswith("Before (upstream defaults), %d workers: " % summary["before"]["workers"])
    assert "After (tuned), %d workers: 0 of 300 requests failed, 0 OOM kills" % after["workers"] in summary["headline"]
    # The report the headline comes from, with the verdict first.
    with open(os.path.join(reports, "local-gateway.benchmark.json")) as handle:
        report = json.load(handle)
    assert report["comparison"]["verdict"] == summary["verdict"]
    with open(os.path.join(reports, "local-gateway.benchmark.md")) as handle:
        assert handle.read().splitlines()[2].startswith({"better": "**Better**: ", "worse": "**Worse**: ",
                                                         "no measurable change": "**No measurable change**: "}[
                                                             summary["verdict"]])
