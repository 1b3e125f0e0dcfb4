# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count the TCP connections a process tree holds to given servers, from /proc.

The probes see every client of PostgreSQL and Redis as "in use", the running gateway's own
connections included. Those are released when the gateway restarts with its new settings, so the
planner adds them back to the budget; without that, each run would plan around what the
previous run's pools happened to hold, and a second run would change the plan.

A socket belongs to a process when one of the process's file descriptors links to
"socket:[INODE]"; /proc/net/tcp and tcp6 list every socket of the network namespace with its
inode, its addresses in hexadecimal and its state. Several hosts may share one network
namespace (containers, the collection's test machines), so only the inodes of the tree count.
"""

from __future__ import annotations

import os
import socket
import struct

ESTABLISHED = "01"
DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379}


def decode_address(hex_address):
    """'0100007F:1538' -> ('127.0.0.1', 5432); IPv6 entries are four little-endian 32-bit words."""
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        words = struct.unpack("<4I", raw)
        host = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:"):]
    return host, int(port_hex, 16)


def parse_net_tcp(text):
    """[(remote_host, remote_port, state, inode)] of a /proc/net/tcp or tcp6 text."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        host, port = decode_address(fields[2])
        entries.append((host, port, fields[3], int(fields[9])))
    return entries


def process_tree(root, proc="/proc"):
    """root and every descendant, from the parent PID in each /proc/PID/stat."""
    parents = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat"), "rb") as handle:
                # The command name in parentheses may hold spaces: the fields follow the last ")".
                parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree if root in parents else set()


def socket_inodes(pids, proc="/proc"):
    inodes = set()
    for pid in pids:
        folder = os.path.join(proc, str(pid), "fd")
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(os.path.join(folder, name))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:["):-1]))
    return inodes


def tcp_address_of(url):
    """(host, port) of a server URL, e.g. postgresql://db:5432/mcp; None for a unix socket (a unix://
    URL, or no host, as the probes' endpoint of a socket folder). Raises ValueError for anything else
    that is not scheme://[credentials@]host[:port][/...], without quoting it: it may hold a password."""
    scheme, separator, rest = url.partition("://")
    if not separator or not scheme:
        raise ValueError("is not a URL (scheme://host:port/...)")
    if scheme.lower() == "unix":
        return None
    authority = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if not authority:
        return None
    if authority.startswith("["):
        host, port = (authority[1:].split("]", 1) + [""])[:2]
        if port and not port.startswith(":"):
            raise ValueError("has text after its IPv6 address")
        port = port[1:]
    else:
        host, port = (authority.split(":", 1) + [""])[:2]
    if not host:
        raise ValueError("has a port but no host")
    if not port:
        return host, DEFAULT_PORTS.get(scheme.split("+")[0].lower(), 0)
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("has a port that is not a number from 1 to 65535")
    return host, int(port)


def resolve(host):
    """Every address the host name resolves to, for matching the kernel's numeric entries."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        return {host}


def count_held(entries, inodes, addresses, port):
    """Established connections among entries whose inode is in inodes and whose remote end is
    one of addresses on port."""
    return sum(1 for host, remote_port, state, inode in entries
               if state == ESTABLISHED and inode in inodes and remote_port == port and host in addresses)


def held_connections(root_pid, endpoints, proc="/proc"):
    """{name: connections the tree of root_pid holds to that URL (None when it cannot be told)}
    and the number of processes in the tree."""
    pids = process_tree(root_pid, proc)
    inodes = socket_inodes(pids, proc)
    entries = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                entries.extend(parse_net_tcp(handle.read()))
        except OSError:
            continue
    counts = {}
    for name, url in endpoints.items():
        address = tcp_address_of(url)
        counts[name] = None if address is None else count_held(entries, inodes, resolve(address[0]), address[1])
    return counts, len(pids)


def endpoint_problems(endpoints):
    """Why endpoints cannot be counted ({name: URL}), or '': each named, no URL shown."""
    for name, url in endpoints.items():
        if not isinstance(url, str):
            return "endpoints.%s must be a URL string, got %s" % (name, type(url).__name__)
        try:
            tcp_address_of(url)
        except ValueError as error:
            return ("endpoints.%s %s (its text is not shown: it may hold a password); give it as the probes' "
                    "endpoint, for example postgresql://db:5432/mcp or redis://cache:6379/0" % (name, error))
    return ""
