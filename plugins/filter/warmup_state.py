# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter mcpgateway.tuning.warmup_state: whether a warm-up of load_test rounds has done its work."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.benchmark import warmup_state


class FilterModule:
    def filters(self):
        return {"warmup_state": warmup_state}
