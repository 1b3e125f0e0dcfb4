# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What every probe module shares: read-only attributes, latency samples, failure policy."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
options:
  samples:
    description: Number of round trips timed for the latency figures (1 to 10000).
    type: int
    default: 10
  deadline:
    description:
      - Seconds the whole probe may take, connecting and every query included, enforced on the client side
        (1 to 3600). The connection and read timeouts bound each step; a server that accepts the connection and
        then answers nothing, or a byte at a time, is only bounded by this.
      - When it passes, the server is returned as not reachable, with the step that stalled in RV(stalled_phase).
    type: float
    default: 30
  fail_unreachable:
    description:
      - Fail the task when the server cannot be reached or queried.
      - By default an unreachable server is returned as data, with RV(reachable=false) and a
        clear RV(error), and the task succeeds.
    type: bool
    default: false
"""
