# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.urls import local_url


@pytest.mark.parametrize("host, port, path, url", [
    ("0.0.0.0", 4444, "/ready", "http://127.0.0.1:4444/ready"),
    ("", "4444", "", "http://127.0.0.1:4444"),
    (None, 8000, "/rpc", "http://127.0.0.1:8000/rpc"),
    ("::", 4444, "/ready", "http://[::1]:4444/ready"),
    ("::1", 4444, "", "http://[::1]:4444"),
    ("[fd00::5]", 80, "/", "http://[fd00::5]:80/"),
    ("127.0.0.21", 4444, "/health", "http://127.0.0.21:4444/health"),
    ("gw1.example", 4444, "", "http://gw1.example:4444"),
])
def test_local_url(host, port, path, url):
    assert local_url(host, port, path) == url


def test_a_port_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError):
        local_url("0.0.0.0", "http")
