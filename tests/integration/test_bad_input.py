# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to every module and action ends in a clear error naming the option, never a traceback.

Each value here used to reach a driver, the kernel or the file system and fail there ("timestamp
out of range for platform time_t", "Invalid header value", an IndexError, a report written outside
its folder), or was silently accepted. All cases run as tasks of one playbook through real Ansible,
against real servers where the module connects, and each must fail with its message.
"""

from __future__ import annotations

import json
import os

import pytest

from harness.throwaway import RedisServer

LOAD = {"requests": 10, "concurrency": 1, "check_response": False}
HAPROXY = {"backend": "mcpgateway", "server": "gw-a", "state": "drain"}
A_RUN = {"requests": 10, "failed_requests": 0, "requests_per_second": 5.0, "ok_requests_per_second": 5.0,
         "status_codes": {"200": 10}, "errors": 0, "latency_ms": {"p50": 10.0, "p99": 20.0}, "valid": True}


def cases(redis_url, tmp_path):
    """(module, arguments, words the failure's message must hold)."""
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    pid = os.getpid()
    return [
        ("redis_probe", {"url": redis_url, "timeout": "inf"}, "timeout must be 0.01 to 3600 seconds, got inf"),
        ("redis_probe", {"url": redis_url, "timeout": "nan"}, "timeout must be 0.01 to 3600 seconds, got nan"),
        ("redis_probe", {"url": redis_url, "timeout": 1e300}, "timeout must be 0.01 to 3600 seconds, got 1e+300"),
        ("redis_probe", {"url": redis_url, "samples": 10 ** 12}, "samples must be 1 to 10000, got 1000000000000"),
        ("redis_probe", {"url": redis_url, "deadline": "nan"}, "deadline must be 1 to 3600 seconds, got nan"),
        ("postgres_probe", {"host": "127.0.0.1", "connect_timeout": 2 ** 31},
         "connect_timeout must be 1 to 3600 seconds, got 2147483648"),
        ("load_test", dict(LOAD, url=""), "url '' is not an http:// or https:// URL with a host"),
        ("load_test", dict(LOAD, url="http//127.0.0.1/rpc"), "url 'http//127.0.0.1/rpc' is not an http://"),
        ("load_test", dict(LOAD, url="http://127.0.0.1:99999/"), "url 'http://127.0.0.1:99999/' cannot be parsed"),
        ("load_test", dict(LOAD, url="http://127.0.0.1:1/", headers={"X-Trace": "one\r\nInjected: two"}),
         "headers.X-Trace holds a line break or NUL, which would end the header"),
        ("load_test", dict(LOAD, url="http://127.0.0.1:1/", max_seconds=0), "max_seconds must be 1 to 7200 seconds"),
        ("load_test", dict(LOAD, url="http://127.0.0.1:1/", max_seconds=-5), "max_seconds must be 1 to 7200 seconds"),
        ("held_connections", {"pid": 0, "endpoints": {"redis": redis_url}}, "pid must be 1 to 4194304, got 0"),
        ("held_connections", {"pid": pid, "endpoints": {"redis": "cache-7:6379"}},
         "endpoints.redis is not a URL (scheme://host:port/...)"),
        ("held_connections", {"pid": pid, "endpoints": {"redis": "redis://cache-7:port/0"}},
         "endpoints.redis has a port that is not a number from 1 to 65535"),
        ("capacity_info", {"pid": -3}, "pid must be 1 to 4194304, got -3"),
        ("resource_watch", {"pid": pid, "stop_file": str(tmp_path / "stop"), "interval": "inf"},
         "interval must be 0.1 to 10 seconds, got inf"),
        # Ansible's own check of an int option names it; values inside dictionaries are the planner's to check.
        ("worker_plan", {"capacity": "{{ capacity }}", "replicas": "+-5"},
         "argument 'replicas' is of type str and we were unable to convert to int"),
        ("worker_plan", {"capacity": "{{ capacity }}", "replicas": 1, "overrides": {"workers": "\u00b2"}},
         "overrides.workers must be a whole number, got '\u00b2'"),
        ("worker_plan", {"capacity": "{{ capacity }}", "replicas": 1, "overrides": {"backlog": 2 * 10 ** 15}},
         "overrides.backlog must be at most 2147483647, got a number of 16 digits"),
        ("worker_plan", {"capacity": "{{ capacity }}", "replicas": 1,
                         "redis": {"reachable": True, "clients_available": 100, "latency_ms": "fast"}},
         "redis.latency_ms must be the probe's latency figures"),
        ("benchmark_report", {"phases": {}}, "phases is empty: give at least one phase"),
        ("benchmark_report", {"phases": {"before": [A_RUN]}, "host": "../../etc/evil", "report_dir": str(tmp_path)},
         "host '../../etc/evil' cannot name the report's files"),
        ("benchmark_report", {"phases": {"before": [A_RUN]}, "report_dir": str(blocked / "reports")},
         "cannot write the report into report_dir %s" % (blocked / "reports")),
        ("benchmark_report", {"phases": {"before": [A_RUN]}, "tolerance": "nan"}, "tolerance must be a fraction"),
        ("haproxy_server", dict(HAPROXY, socket="lb1"), "socket 'lb1' is neither a unix socket path nor host:port"),
        ("haproxy_server", dict(HAPROXY, socket=str(tmp_path / "no.sock")),
         "HAProxy's stats socket %s did not answer 'show': [Errno 2] No such file or directory" % (tmp_path / "no.sock")),
        ("haproxy_server", dict(HAPROXY, socket="/run/none.sock", wait_timeout=-1),
         "wait_timeout must be 0 to 3600 seconds, got -1"),
        ("haproxy_server", dict(HAPROXY, socket="/run/none.sock", timeout="inf"),
         "timeout must be 0.1 to 600 seconds, got inf"),
    ]


@pytest.fixture(scope="module")
def redis():
    with RedisServer() as server:
        yield server


def test_every_bad_value_fails_with_a_message_naming_it(redis, run_cases, tmp_path):
    all_cases = cases("redis://127.0.0.1:%d/0" % redis.port, tmp_path)
    results = run_cases([(module, arguments) for module, arguments, _message in all_cases], setup_tasks=[
        {"name": "Measure this host", "mcpgateway.tuning.capacity_info": {}, "register": "capacity"}])
    for (module, arguments, message), result in zip(all_cases, results):
        assert result.get("failed"), "%s %s did not fail: %s" % (module, arguments, result)
        assert message in result["msg"], "%s %s: %s" % (module, arguments, result["msg"])
        assert "Traceback" not in json.dumps(result) and "MODULE FAILURE" not in result["msg"]
    # Nothing was written outside the report folder, nor anything for a refused request.
    assert not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(str(tmp_path))), "etc",
                                           "evil.benchmark.md"))
    assert os.listdir(tmp_path) == ["a-file-not-a-folder"]
