# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deadline every probe runs under."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import probe_module


def test_a_call_within_the_deadline_returns_or_raises_as_it_would():
    assert probe_module.within_deadline(lambda: 42, 5) == 42
    with pytest.raises(ZeroDivisionError):
        probe_module.within_deadline(lambda: 1 / 0, 5)


def test_a_call_past_the_deadline_is_left_behind():
    release = threading.Event()
    try:
        with pytest.raises(probe_module.ProbeDeadlineExceeded):
            probe_module.within_deadline(lambda: release.wait(30), 0.2)
    finally:
        release.set()


def test_a_stalled_probe_says_where_it_stalled():
    result = probe_module.stalled({"reachable": True, "error": None, "endpoint": "redis://127.0.0.1:6379/0"},
                                  "sending INFO", 5.0)
    assert result["reachable"] is False and result["stalled_phase"] == "sending INFO"
    assert result["error"].startswith("redis://127.0.0.1:6379/0 did not finish answering the probe within its "
                                      "deadline of 5 s: it stalled while sending INFO.")
