# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Round-trip timing shared by the Redis and PostgreSQL probes."""

from __future__ import annotations

import time


def percentile(values, fraction):
    """Linear interpolation between the closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def summarize_ms(samples_seconds):
    """Sample durations in seconds -> {samples, min, p50, p99, max} in milliseconds (3 decimals)."""
    millis = [sample * 1000.0 for sample in samples_seconds]
    return {
        "samples": len(millis),
        "min": round(min(millis), 3),
        "p50": round(percentile(millis, 0.50), 3),
        "p99": round(percentile(millis, 0.99), 3),
        "max": round(max(millis), 3),
    }


def time_calls(call, count):
    """Call ``call()`` ``count`` times and return the latency summary of those calls."""
    durations = []
    for dummy in range(count):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return summarize_ms(durations)
