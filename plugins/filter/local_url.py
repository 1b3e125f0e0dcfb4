# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter mcpgateway.tuning.local_url: the URL of a server from its own host, by its listen address."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.urls import local_url


class FilterModule:
    def filters(self):
        return {"local_url": local_url}
