# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API (the stats socket at level admin): one command per connection, and the
parsers of what it answers, as plain functions that unit tests call with HAProxy's own texts.

A server's administrative state is set with ``set server BACKEND/SERVER state ready|drain|maint``
and read from ``show servers state BACKEND`` (flags: a drained server that its health check sees
down shows DOWN, not DRAIN, in ``show stat``); ``show stat`` (CSV) gives its status and current
sessions (``scur``) and queued requests (``qcur``). A drained server takes no new request but
finishes those it has; it is empty when both are 0.
"""

from __future__ import annotations

import csv
import io
import socket

STATES = ("ready", "drain", "maint")


class HAProxyError(Exception):
    pass


def parse_address(text):
    """A stats socket: a unix socket path, or host:port of a TCP one -> (family, address)."""
    if text.startswith("/"):
        return socket.AF_UNIX, text
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise HAProxyError("socket %r is neither a unix socket path nor host:port" % text)
    return socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))


def send(address, line, timeout):
    """One command on a new connection (HAProxy's non-interactive mode); its whole answer."""
    family, target = parse_address(address)
    connection = socket.socket(family, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(target)
        connection.sendall(line.encode() + b"\n")
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as error:
        raise HAProxyError("HAProxy's stats socket %s did not answer %r: %s" % (address, line.split()[0], error))
    finally:
        connection.close()
    return b"".join(chunks).decode(errors="replace")


def parse_stat(text):
    """`show stat` CSV -> {(proxy, server): {'status', 'scur', 'qcur'}}."""
    if not text.startswith("# "):
        raise HAProxyError("show stat did not answer CSV: %s" % text.strip()[:200])
    rows = {}
    for row in csv.DictReader(io.StringIO(text[2:])):
        rows[(row["pxname"], row["svname"])] = {
            "status": row.get("status") or "",
            "scur": int(row.get("scur") or 0),
            "qcur": int(row.get("qcur") or 0),
        }
    return rows


# srv_admin_state flags of `show servers state` (HAProxy's SRV_ADMF_*): forced, inherited, from
# configuration, resolution or health maintenance; forced or inherited drain.
ADMIN_MAINT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN_FLAGS = 0x08 | 0x10
# srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping.
OPERATIONAL_RUNNING = 2


def parse_servers_state(text, backend):
    """`show servers state BACKEND` -> {server: {'admin_state', 'running'}}: its servers'
    administrative state (ready, drain or maint) and whether HAProxy runs them (their check passes)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Can't find backend"):
        raise HAProxyError("HAProxy has no backend %s" % backend)
    header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
    if header is None:
        raise HAProxyError("show servers state did not answer its table: %s" % text.strip()[:200])
    servers = {}
    for line in lines:
        if line.startswith("#") or len(line.split()) < len(header) or not line[0].isdigit():
            continue
        row = dict(zip(header, line.split()))
        flags = int(row["srv_admin_state"])
        servers[row["srv_name"]] = {
            "admin_state": "maint" if flags & ADMIN_MAINT_FLAGS else "drain" if flags & ADMIN_DRAIN_FLAGS else "ready",
            "running": int(row["srv_op_state"]) == OPERATIONAL_RUNNING,
        }
    return servers


def server_view(servers_state, stats, backend, server):
    """One server's administrative state, whether it runs, its status, sessions and queue."""
    if server not in servers_state:
        raise HAProxyError("backend %s has no server %s; its servers are: %s"
                           % (backend, server, ", ".join(sorted(servers_state)) or "none"))
    view = dict(servers_state[server])
    view.update(stats.get((backend, server), {"status": "", "scur": 0, "qcur": 0}))
    return view


def others_running(servers_state, server):
    """The other servers of the backend that HAProxy sends traffic to (draining the last one is an outage)."""
    return sorted(name for name, state in servers_state.items()
                  if name != server and state["running"] and state["admin_state"] == "ready")


def check_answer(text):
    """`set server` answers nothing when it worked, and a sentence when it did not."""
    if text.strip():
        raise HAProxyError("HAProxy refused the change: %s" % text.strip())
