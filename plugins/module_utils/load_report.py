# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hey's text report as data, and whether a run's figures mean anything.

hey (github.com/rakyll/hey) prints a summary (total time, slowest, fastest, average, requests/s),
a latency distribution (10 % ... 99 %), the status code distribution and, when requests failed
without a response, an error distribution. Latencies are converted to milliseconds.
"""

from __future__ import annotations

import re

SUMMARY_FIELDS = {"Total": "total_seconds", "Slowest": "slowest_seconds", "Fastest": "fastest_seconds",
                  "Average": "average_seconds", "Requests/sec": "requests_per_second"}
SUMMARY_LINE = re.compile(r"^\s*(Total|Slowest|Fastest|Average|Requests/sec):\s+([0-9.]+|NaN)")
PERCENTILE_LINE = re.compile(r"^\s*(\d+)% in ([0-9.]+) secs")
# "[200]\t180 responses" and "[3]\tPost ...: connection refused": the status, or the count, in brackets.
STATUS_LINE = re.compile(r"^\s*\[(\d+)\]\s+(\d+) responses")
ERROR_LINE = re.compile(r"^\s*\[(\d+)\]\s+(.+)$")
# What an error message says happened, most specific first.
ERROR_KINDS = (
    ("timeout", ("Client.Timeout", "timeout", "deadline exceeded")),
    ("connection refused", ("connection refused",)),
    ("connection reset", ("connection reset", "broken pipe")),
    ("closed by the server", ("EOF", "server closed")),
    ("too many open files", ("too many open files",)),
)


class LoadReportError(Exception):
    """hey's output could not be read: the message says what was missing."""


def error_kind(message):
    lowered = message.lower()
    for kind, markers in ERROR_KINDS:
        if any(marker.lower() in lowered for marker in markers):
            return kind
    return "other"


def parse_hey(text):
    """The figures of one hey report. Raises LoadReportError when it holds no summary."""
    summary, percentiles, statuses, errors = {}, {}, {}, {}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Status code distribution:"):
            section = "status"
            continue
        if stripped.startswith("Error distribution:"):
            section = "errors"
            continue
        if stripped.endswith(":") and not stripped.startswith("["):
            section = None
        match = SUMMARY_LINE.match(line)
        if match:
            summary[SUMMARY_FIELDS[match.group(1)]] = None if match.group(2) == "NaN" else float(match.group(2))
            continue
        match = PERCENTILE_LINE.match(line)
        if match:
            percentiles["p%s" % match.group(1)] = round(float(match.group(2)) * 1000.0, 2)
            continue
        match = STATUS_LINE.match(line) if section == "status" else ERROR_LINE.match(line) if section == "errors" else None
        if match and section == "status":
            statuses[int(match.group(1))] = int(match.group(2))
        elif match:
            message = match.group(2).strip()
            errors[message] = errors.get(message, 0) + int(match.group(1))
    if "requests_per_second" not in summary:
        raise LoadReportError("hey printed no summary (no 'Requests/sec' line): %s" % text.strip()[-300:])
    error_kinds = {}
    for message, count in errors.items():
        kind = error_kind(message)
        error_kinds[kind] = error_kinds.get(kind, 0) + count

    def milliseconds(name):
        value = summary.get(name)
        return None if value is None else round(value * 1000.0, 2)

    latency = dict(percentiles, min=milliseconds("fastest_seconds"), max=milliseconds("slowest_seconds"),
                   average=milliseconds("average_seconds"))
    responses = sum(statuses.values())
    failed = sum(errors.values())
    return {
        "requests": responses + failed,
        "requests_per_second": summary["requests_per_second"],
        "total_seconds": summary.get("total_seconds"),
        "latency_ms": latency,
        "status_codes": statuses,
        "non_2xx": sum(count for code, count in statuses.items() if not 200 <= code < 300),
        "errors": failed,
        "error_kinds": error_kinds,
        "error_messages": errors,
    }


def judge(report):
    """(valid, reason): a run with HTTP 429 measured the rate limiter, not the gateway; a run in
    which nothing answered measured nothing."""
    limited = report["status_codes"].get(429, 0)
    if limited:
        return False, ("rate limited: results invalid (%d of %d responses were HTTP 429; turn the gateway's rate "
                       "limiting off for the test, RATE_LIMITING_ENABLED=false, or lower the load)"
                       % (limited, report["requests"]))
    if not report["status_codes"]:
        kinds = ", ".join("%s %d" % item for item in sorted(report["error_kinds"].items())) or "none"
        return False, "no response at all: every request failed (%s)" % kinds
    return True, "%d requests, %.1f requests/s, p99 %s ms, %d non-2xx, %d errors" % (
        report["requests"], report["requests_per_second"], report["latency_ms"].get("p99"), report["non_2xx"],
        report["errors"])
