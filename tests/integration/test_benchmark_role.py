# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site playbook (benchmark, tune, benchmark, report) and the benchmark role's regression gate
against the session's real gateway (conftest.py), with real hey."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

import pytest

from conftest import recap

pytestmark = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")

# Three runs, for a median: the role's path and report, not figures. 100 requests a run, the fewest
# for which hey reports a p99 (each playbook task costs about a quarter of a second here, and each
# request of one worker about a twentieth).
SMALL_BENCHMARK = {"benchmark_runs": 3, "benchmark_requests": 100, "benchmark_concurrency": 10,
                   "benchmark_warmup_requests": 30}
# The load must measure the gateway, not its rate limiter.
NO_RATE_LIMIT = {"tune_extra_env": {"RATE_LIMITING_ENABLED": "false"}}


@pytest.fixture(scope="module")
def site(gateway, tmp_path_factory):
    reports = str(tmp_path_factory.mktemp("benchmark-reports"))

    def run(settings):
        extra_vars = dict(benchmark_report_dir=reports, tune_report_dir=reports,
                          **dict(SMALL_BENCHMARK, **dict(NO_RATE_LIMIT, **settings)))
        return gateway.playbook(capture=True, playbook="mcpgateway.tuning.site", extra_vars=extra_vars), reports

    # One worker and no rate limiter, by the tune playbook alone: the state the site playbook starts from.
    first = gateway.playbook(capture=True, playbook="mcpgateway.tuning.tune",
                             extra_vars=dict(NO_RATE_LIMIT, tune_workers=1, tune_report_dir=reports))
    assert first.returncode == 0, first.stdout[-4000:]
    yield run
    os.remove(os.path.join(gateway.config_dir, "tuning.env"))
    gateway.supervisorctl("restart", "mcpgateway", check=True)
    assert gateway.wait_ready()


def checksum(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_site_reports_before_and_after_with_what_changed(gateway, site):
    completed, reports = site({"tune_workers": 3})
    assert completed.returncode == 0, completed.stdout[-4000:]
    with open(os.path.join(reports, "local-gateway.benchmark.json")) as handle:
        report = json.load(handle)
    before, after = report["phases"]["before"], report["phases"]["after"]
    for phase in (before, after):
        assert phase["valid"] and phase["runs"] == 3 and len(phase["requests_per_second_runs"]) == 3
        assert phase["requests_per_second"] > 0 and phase["p99_ms"] > 0
        assert phase["status_codes"] == {"200": 300} and phase["errors"] == 0
        # Rounds of 30 requests until one is no faster than the one before, 5 at most (the role's default).
        warmup = phase["warmup"]
        assert 2 <= warmup["rounds"] <= 5 and warmup["requests"] == 30 * warmup["rounds"]
        assert warmup["state"] == "settled" or (warmup["rounds"] == 5 and warmup["state"] == "warming")
        # The watch beside the runs: the workers' memory, no OOM kill, no PostgreSQL (SQLite) to count.
        assert 50 < phase["peak_memory_mib"] < 4096 and phase["oom_kills"] == 0
        assert phase["peak_db_sessions"] is None and phase["log_signs"]["refused"] == 0
    comparison = report["comparison"]
    assert comparison["comparable"] is True and comparison["verdict"] in ("better", "no measurable change", "worse")
    assert comparison["requests_per_second_ratio"] == round(
        after["ok_requests_per_second"] / before["ok_requests_per_second"], 3)
    assert {"name": "workers", "before": "1", "after": "3", "file": os.path.join(gateway.config_dir, "gunicorn.conf.py")} \
        in report["changes"]
    with open(os.path.join(reports, "local-gateway.benchmark.md")) as handle:
        text = handle.read()
    assert text.splitlines()[2].startswith({"better": "**Better**: ", "worse": "**Worse**: ",
                                            "no measurable change": "**No measurable change**: "}[comparison["verdict"]])
    assert "| | before | after | after / before |" in text and "- `workers`: 1 -> 3" in text
    assert "| OOM kills | 0 | 0 |  |" in text and "| peak memory MiB | " in text
    assert "| warm-up rounds | %d (" % before["warmup"]["rounds"] in text
    with open(os.path.join(reports, "local-gateway.benchmark.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "| requests/s answered 2xx (median) |" in completed.stdout


def test_a_regression_rolls_back_to_the_files_from_before_the_tuning(gateway, site):
    tuning_env = os.path.join(gateway.config_dir, "tuning.env")
    config = os.path.join(gateway.config_dir, "gunicorn.conf.py")
    before = {path: checksum(path) for path in (tuning_env, config)}
    # A tuning that changes the key tokens are signed with (an operator's slip in tune_extra_env): the
    # gateway restarts and is ready, but refuses every token minted with its environment file's key, so
    # the after phase cannot load it at all: worse, and rolled back.
    other_key = dict(NO_RATE_LIMIT["tune_extra_env"], JWT_SECRET_KEY="k7Qz-" + hashlib.sha256(b"other").hexdigest())
    completed = site({"tune_workers": 2, "tune_extra_env": other_key, "benchmark_rollback_on_regression": True})[0]
    assert completed.returncode != 0
    assert recap(completed)["failed"] == 1
    assert re.search(r"After the tuning, local-gateway does worse than before: after could not be measured: the call "
                     r"itself fails: POST \S+ answered HTTP 401", completed.stdout), completed.stdout[-5000:]
    assert "Its configuration from before the tuning is back and it is ready." in completed.stdout
    assert {path: checksum(path) for path in before} == before
    assert gateway.request("/ready")[0] == 200
