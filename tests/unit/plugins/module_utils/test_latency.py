# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import latency


@pytest.mark.parametrize("fraction, expected", [(0.0, 1.0), (0.5, 3.0), (0.99, 4.96), (1.0, 5.0), (0.25, 2.0)])
def test_percentile_interpolates_between_ranks(fraction, expected):
    assert latency.percentile([5.0, 1.0, 3.0, 2.0, 4.0], fraction) == pytest.approx(expected)


def test_percentile_of_one_value_and_of_none():
    assert latency.percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        latency.percentile([], 0.5)


def test_summary_in_milliseconds():
    assert latency.summarize_ms([0.001, 0.002, 0.003]) == {
        "samples": 3, "min": 1.0, "p50": 2.0, "p99": 2.98, "max": 3.0}


def test_time_calls_calls_the_function_that_many_times():
    calls = []
    summary = latency.time_calls(lambda: calls.append(1), 4)
    assert len(calls) == 4
    assert summary["samples"] == 4
    assert 0 <= summary["min"] <= summary["max"]
