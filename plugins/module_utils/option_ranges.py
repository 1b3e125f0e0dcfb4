# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ranges of the modules' numeric options, checked before a module does anything.

Ansible converts an option to int or float but accepts any size, and for a float inf and nan:
a timeout of inf then fails deep inside a driver ("timestamp out of range"), one of 1e300
overflows, a PID of 0 or a backlog of 10^15 reaches the kernel. Each module lists its options'
ranges in one table; the first value outside its range fails the module with a message that
names the option, the range and the value.
"""

from __future__ import annotations

import math

# The kernel's largest PID (pid_max is at most 2^22 on 64-bit Linux).
PID_RANGE = (1, 4194304, "")
PORT_RANGE = (1, 65535, "")
# Anything a probe or a load test waits for is bounded by the probes' longest deadline.
HOUR = 3600


def range_problem(name, value, low, high, unit=""):
    """A message for a value outside [low, high] (inf and nan included), or '' when it is inside or unset."""
    if value is None or isinstance(value, bool):
        return ""
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        where = " " + unit if unit else ""
        return "%s must be %s to %s%s, got %s" % (name, _number(low), _number(high), where, _number(value))
    return ""


def first_range_problem(params, ranges):
    """The first problem among ranges {option: (low, high, unit)} of params, or ''."""
    for name, (low, high, unit) in ranges.items():
        problem = range_problem(name, params.get(name), low, high, unit)
        if problem:
            return problem
    return ""


def fail_outside_ranges(module, ranges):
    problem = first_range_problem(module.params, ranges)
    if problem:
        module.fail_json(msg=problem)


def _number(value):
    if isinstance(value, float):
        return "%g" % value
    text = str(value)
    # An int of hundreds of digits says no more than its size.
    return text if len(text) <= 15 else "%s... (%d digits)" % (text[:6], len(text.lstrip("-")))
