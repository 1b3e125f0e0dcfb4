# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counting a process tree's connections over a /proc laid out in a temporary folder."""

from __future__ import annotations

import os

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils.held_connections import (
    decode_address,
    endpoint_problems,
    tcp_address_of,
    held_connections,
    process_tree,
)

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tcp_line(remote, state, inode):
    return ("   0: 0100007F:9C40 %s %s 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000 20 4 30 10 -1\n"
            % (remote, state, inode))


def make_proc(root, processes, tcp, tcp6=""):
    """processes: {pid: (ppid, [socket inodes])}"""
    for pid, (ppid, inodes) in processes.items():
        fd = os.path.join(root, str(pid), "fd")
        os.makedirs(fd)
        with open(os.path.join(root, str(pid), "stat"), "w") as handle:
            handle.write("%d (gunicorn: worker [mcp gw]) S %d 1 1 0 -1\n" % (pid, ppid))
        for number, inode in enumerate(inodes):
            os.symlink("socket:[%d]" % inode, os.path.join(fd, str(number + 3)))
        os.symlink("/dev/null", os.path.join(fd, "0"))
    os.makedirs(os.path.join(root, "net"))
    with open(os.path.join(root, "net", "tcp"), "w") as handle:
        handle.write(TCP_HEADER + tcp)
    with open(os.path.join(root, "net", "tcp6"), "w") as handle:
        handle.write(TCP_HEADER + tcp6)
    return str(root)


def test_addresses_decode_as_the_kernel_writes_them():
    assert decode_address("0100007F:1538") == ("127.0.0.1", 5432)
    assert decode_address("2A00007F:18EB") == ("127.0.0.42", 6379)
    assert decode_address("00000000000000000000000001000000:1538") == ("::1", 5432)
    assert decode_address("0000000000000000FFFF00000100007F:18EB") == ("127.0.0.1", 6379)


def test_endpoints_come_from_urls_with_or_without_credentials():
    assert tcp_address_of("postgresql+psycopg://gw:secret@db.example:6432/mcp?sslmode=disable") == ("db.example", 6432)
    assert tcp_address_of("postgresql://db/mcp") == ("db", 5432)
    assert tcp_address_of("redis://:pw@127.0.0.1/0") == ("127.0.0.1", 6379)
    assert tcp_address_of("rediss://[::1]:6380/0") == ("::1", 6380)
    assert tcp_address_of("unix:///run/redis.sock") is None
    assert tcp_address_of("postgresql:///run/postgresql:5432/mcp") is None


@pytest.mark.parametrize("url, problem", [
    ("pg-7:5433", "is not a URL"), ("://pg-7:5433", "is not a URL"),
    ("redis://:6379/0", "has a port but no host"),
    ("redis://cache:abc/0", "has a port that is not a number"), ("redis://cache:70000/0", "has a port that is not"),
    ("redis://cache:\u00b2/0", "has a port that is not"), ("redis://[::1]x/0", "has text after its IPv6 address"),
])
def test_urls_that_do_not_parse_are_refused_without_being_quoted(url, problem):
    with pytest.raises(ValueError, match=problem):
        tcp_address_of(url)
    message = endpoint_problems({"postgres": "postgresql://db:5432/mcp", "redis": url})
    assert message.startswith("endpoints.redis " + problem) and url not in message
    assert endpoint_problems({"redis": 6379}) == "endpoints.redis must be a URL string, got int"
    assert endpoint_problems({"postgres": "postgresql://db:5432/mcp"}) == ""


def test_the_tree_follows_parents_and_ignores_other_processes(tmp_path):
    proc = make_proc(tmp_path, {10: (1, []), 11: (10, []), 12: (11, []), 20: (1, [])}, "")
    assert process_tree(10, proc) == {10, 11, 12}
    assert process_tree(99, proc) == set()


def test_only_the_trees_established_connections_to_each_server_count(tmp_path):
    tcp = (tcp_line("0100007F:1538", "01", 501) + tcp_line("0100007F:1538", "01", 502)
           + tcp_line("0100007F:1538", "06", 503)      # TIME_WAIT
           + tcp_line("0100007F:1538", "01", 601)      # another host's gateway in the same namespace
           + tcp_line("0100007F:18EB", "01", 504))
    tcp6 = tcp_line("0000000000000000FFFF00000100007F:18EB", "01", 505)
    proc = make_proc(tmp_path, {10: (1, [501]), 11: (10, [502, 503, 504]), 12: (10, [505]), 20: (1, [601])},
                     tcp, tcp6)
    counts, processes = held_connections(10, {"postgres": "postgresql://gw:pw@127.0.0.1:5432/mcp",
                                              "redis": "redis://127.0.0.1:6379/0", "socket": "unix:///x"}, proc)
    assert counts == {"postgres": 2, "redis": 2, "socket": None}
    assert processes == 3
