# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter mcpgateway.tuning.secret_problem: what the gateway would reject in a secret."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.secret_rules import secret_problem


class FilterModule:
    def filters(self):
        return {"secret_problem": secret_problem}
