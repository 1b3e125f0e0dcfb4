# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hey's reports as hey 0.1.4 prints them (captured from real runs) and what they mean."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import (
    LoadReportError,
    error_kind,
    judge,
    parse_hey,
)

SERVED = """
Summary:
  Total:\t1.1101 secs
  Slowest:\t1.0383 secs
  Fastest:\t0.0007 secs
  Average:\t0.0262 secs
  Requests/sec:\t180.1666
  \n  Total data:\t578000 bytes
  Size/request:\t2890 bytes

Response time histogram:
  0.001 [1]\t|
  0.104 [195]\t|\u25a0\u25a0\u25a0\u25a0
  1.038 [4]\t|\u25a0


Latency distribution:
  10% in 0.0024 secs
  25% in 0.0035 secs
  50% in 0.0048 secs
  75% in 0.0067 secs
  90% in 0.0112 secs
  95% in 0.0159 secs
  99% in 1.0366 secs

Details (average, fastest, slowest):
  DNS+dialup:\t0.0208 secs, 0.0007 secs, 1.0383 secs
  resp read:\t0.0002 secs, 0.0000 secs, 0.0041 secs

Status code distribution:
  [200]\t180 responses
  [429]\t12 responses
  [503]\t8 responses

Error distribution:
  [3]\tPost "http://127.0.0.1:4444/rpc": context deadline exceeded (Client.Timeout exceeded while awaiting headers)
  [2]\tPost "http://127.0.0.1:4444/rpc": read tcp 127.0.0.1:5->127.0.0.1:4444: read: connection reset by peer
  [1]\tPost "http://127.0.0.1:4444/rpc": EOF
"""

NOTHING_ANSWERED = """
Summary:
  Total:\t0.0079 secs
  Slowest:\t0.0000 secs
  Fastest:\t0.0000 secs
  Average:\t NaN secs
  Requests/sec:\t2524.2052
\n
Response time histogram:


Latency distribution:

Details (average, fastest, slowest):
  DNS+dialup:\t NaN secs, 0.0000 secs, 0.0000 secs

Status code distribution:

Error distribution:
  [20]\tGet "http://127.0.0.1:48223/": dial tcp 127.0.0.1:48223: connect: connection refused
"""


def test_a_served_run_becomes_figures_in_milliseconds():
    report = parse_hey(SERVED)
    assert report["requests_per_second"] == 180.1666
    assert report["latency_ms"] == {"p10": 2.4, "p25": 3.5, "p50": 4.8, "p75": 6.7, "p90": 11.2, "p95": 15.9,
                                    "p99": 1036.6, "min": 0.7, "max": 1038.3, "average": 26.2}
    assert report["status_codes"] == {200: 180, 429: 12, 503: 8}
    assert report["non_2xx"] == 20
    assert report["errors"] == 6
    assert report["requests"] == 206
    assert report["error_kinds"] == {"timeout": 3, "connection reset": 2, "closed by the server": 1}


def test_a_rate_limited_run_is_invalid():
    valid, reason = judge(parse_hey(SERVED))
    assert not valid
    assert reason.startswith("rate limited: results invalid (12 of 206 responses were HTTP 429")


def test_a_run_nobody_answered_is_invalid_and_says_why():
    report = parse_hey(NOTHING_ANSWERED)
    assert report["latency_ms"]["average"] is None
    assert report["error_kinds"] == {"connection refused": 20}
    assert judge(report) == (False, "no response at all: every request failed (connection refused 20)")


def test_a_clean_run_is_valid():
    report = parse_hey(SERVED.replace("  [429]\t12 responses\n", "").replace("  [503]\t8 responses\n", ""))
    valid, reason = judge(report)
    assert valid
    assert reason == "186 requests, 180.2 requests/s, p99 1036.6 ms, 0 non-2xx, 6 errors"


def test_output_without_a_summary_is_an_error():
    with pytest.raises(LoadReportError, match="no 'Requests/sec' line"):
        parse_hey("flag provided but not defined: -x\nUsage: hey [options...] <url>")


@pytest.mark.parametrize("message, kind", [
    ("dial tcp 10.0.0.1:4444: i/o timeout", "timeout"),
    ("socket: too many open files", "too many open files"),
    ("write: broken pipe", "connection reset"),
    ("something else", "other"),
])
def test_error_kinds(message, kind):
    assert error_kind(message) == kind
