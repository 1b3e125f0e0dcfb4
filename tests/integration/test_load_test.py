# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""load_test with the real hey against the session's real gateway (conftest.py), whose rate
limiter is on: its defaults allow 500 requests a minute per client on /health."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.throwaway import LOOPBACK, free_port

pytestmark = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")

TOOLS_LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})


@pytest.fixture(scope="module")
def token(gateway):
    return gateway.token(minutes=30)


def test_measures_an_authenticated_json_rpc_call(run_module, gateway, token):
    result = run_module("load_test", {"url": gateway.url + "/rpc", "method": "POST", "body": TOOLS_LIST,
                                      "token": token, "requests": 200, "concurrency": 10})
    assert not result.failed, result.output
    report = result.result
    assert report["valid"] is True
    assert report["status_codes"] == {"200": 200} and report["requests"] == 200 and report["errors"] == 0
    assert report["requests_per_second"] > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["check"]["status"] == 200 and '"tools"' in report["check"]["body"]
    assert token not in result.output


@pytest.mark.parametrize("settings, message", [
    ({"body": json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nope/nope"})},
     "the call itself fails: the gateway answered HTTP 200 with JSON-RPC error -32601 Method not found"),
    ({"token": None}, "the call itself fails: POST %s/rpc answered HTTP 401"),
], ids=["JSON-RPC error with HTTP 200", "no token"])
def test_a_wrong_call_fails_before_any_load(run_module, gateway, token, settings, message):
    arguments = dict({"url": gateway.url + "/rpc", "method": "POST", "body": TOOLS_LIST, "token": token,
                      "requests": 100}, **settings)
    result = run_module("load_test", {name: value for name, value in arguments.items() if value is not None})
    assert result.failed
    assert (message % gateway.url if "%s" in message else message) in result.result["msg"]
    assert "requests_per_second" not in result.result


def test_a_rate_limited_run_reports_no_throughput(run_module, gateway):
    result = run_module("load_test", {"url": gateway.url + "/health", "requests": 1500, "concurrency": 20})
    try:
        assert not result.failed, result.output
        report = result.result
        assert report["valid"] is False
        assert report["reason"].startswith("rate limited: results invalid (")
        assert report["requests_per_second"] is None
        assert int(report["status_codes"]["429"]) > 0
    finally:
        # The limit is per minute; the tests after this one read /ready.
        assert gateway.wait_ready(timeout=90)


@pytest.mark.parametrize("settings, message", [
    ({"hey_path": "/nonexistent/hey"}, "hey is not installed on this host (/nonexistent/hey not found): apt-get install hey"),
    ({"url": "http://%s:%d/rpc" % (LOOPBACK, free_port())}, "does not answer"),
    ({"duration": 6, "max_seconds": 2, "check_response": False}, "hey ran past max_seconds (2 s) and was stopped"),
    ({"concurrency": 0}, "concurrency must be 1 to 10000, got 0"),
], ids=["no hey", "nothing listens", "past the time limit", "no clients"])
def test_bad_runs_fail_clearly(run_module, gateway, settings, message):
    result = run_module("load_test", dict({"url": gateway.url + "/ready", "requests": 50}, **settings))
    assert result.failed
    assert message in result.result["msg"], result.result["msg"]


def test_check_mode_sends_nothing(run_module, gateway):
    result = run_module("load_test", {"url": gateway.url + "/ready"}, check=True)
    assert not result.failed, result.output
    assert result.result.get("skipped") is True and "requests" not in result.result
