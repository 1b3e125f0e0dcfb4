# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import option_ranges


@pytest.mark.parametrize("value, problem", [
    (30.0, ""), (1.0, ""), (3600.0, ""), (None, ""),
    (0.0, "deadline must be 1 to 3600 seconds, got 0"), (3601.0, "deadline must be 1 to 3600 seconds, got 3601"),
    (float("nan"), "deadline must be 1 to 3600 seconds, got nan"),
    (float("inf"), "deadline must be 1 to 3600 seconds, got inf"),
    (float("-inf"), "deadline must be 1 to 3600 seconds, got -inf"),
    (1e300, "deadline must be 1 to 3600 seconds, got 1e+300"),
])
def test_values_outside_a_range_are_named_with_the_range(value, problem):
    assert option_ranges.range_problem("deadline", value, 1, 3600, "seconds") == problem


def test_a_huge_whole_number_is_shown_by_its_size():
    assert option_ranges.range_problem("backlog", 2 * 10 ** 15, 1, 2 ** 31 - 1) == (
        "backlog must be 1 to 2147483647, got 200000... (16 digits)")


def test_the_first_option_outside_its_range_is_reported():
    ranges = {"pid": option_ranges.PID_RANGE, "port": option_ranges.PORT_RANGE}
    assert option_ranges.first_range_problem({"pid": 12, "port": 5432}, ranges) == ""
    assert option_ranges.first_range_problem({"pid": 0, "port": 0}, ranges) == "pid must be 1 to 4194304, got 0"
    assert option_ranges.first_range_problem({"pid": 1, "port": 70000}, ranges) == (
        "port must be 1 to 65535, got 70000")
