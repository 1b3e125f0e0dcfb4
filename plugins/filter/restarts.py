# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters mcpgateway.tuning.apply_method and mcpgateway.tuning.server_workers."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.restarts import apply_method, server_workers


class FilterModule:
    def filters(self):
        return {"apply_method": apply_method, "server_workers": server_workers}
