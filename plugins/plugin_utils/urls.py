# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""URLs that reach the gateway from its own host, from the address it listens on."""

from __future__ import annotations

# A server bound to every address of a family is reached on that family's loopback address.
WILDCARD_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}


def local_url(host, port, path=""):
    """http://HOST:PORT/PATH for a server listening on host and port, asked from the same host: a
    wildcard address becomes its loopback address, and an IPv6 address is put in brackets."""
    host = "" if host is None else str(host).strip()
    if host in WILDCARD_LOOPBACK:
        host = WILDCARD_LOOPBACK[host]
    elif ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "http://%s:%s%s" % (host, int(port), path)
