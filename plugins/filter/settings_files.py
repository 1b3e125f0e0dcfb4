# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters mcpgateway.tuning.env_values, mcpgateway.tuning.setting_changes and mcpgateway.tuning.slurped_texts."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.settings_files import env_values, setting_changes, slurped_texts


class FilterModule:
    def filters(self):
        return {"env_values": env_values, "setting_changes": setting_changes, "slurped_texts": slurped_texts}
