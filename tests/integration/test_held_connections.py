# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""held_connections against real sockets: a process tree with open connections to the session's
real Redis and PostgreSQL, and a process outside the tree connected to the same servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

# A parent that opens one connection to each server and a child that opens two more to each,
# then both wait until they are stopped. Only the child says "ready", once every connection is
# open: when both printed, their writes to the one pipe could interleave ("readyready", seen in CI).
HOLDER = """
import os, socket, sys, time
targets = [(sys.argv[1], int(sys.argv[2])), (sys.argv[3], int(sys.argv[4]))]
held = [socket.create_connection(target) for target in targets]
if os.fork() == 0:
    held += [socket.create_connection(target) for target in targets for _ in range(2)]
    print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(redis_server, postgres_server):
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", HOLDER, redis_server.host, str(redis_server.port), postgres_server.host,
         str(postgres_server.port)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    # A connection of another process to the same servers, which must not count.
    outsiders = [socket.create_connection((redis_server.host, redis_server.port)),
                 socket.create_connection((postgres_server.host, postgres_server.port))]
    yield process
    for outsider in outsiders:
        outsider.close()
    # The child is in the holder's session; stop the whole group by its ID.
    subprocess.run(["kill", "-TERM", "--", "-%d" % process.pid], check=False)
    process.wait(timeout=10)


def test_counts_the_trees_connections_to_each_server(run_module, holder, redis_server, postgres_server):
    time.sleep(0.5)
    result = run_module("held_connections", {
        "pid": holder.pid,
        "endpoints": {"redis": redis_server.url(None, "secret-in-url"),
                      "postgres": "postgresql://gateway:pw@%s:%d/mcp" % (postgres_server.host, postgres_server.port),
                      "socket": "unix:///run/postgresql/.s.PGSQL.5432"},
    })
    assert not result.failed, result.output
    assert result.result["connections"] == {"redis": 3, "postgres": 3, "socket": None}
    assert result.result["processes"] == 2
    assert "secret-in-url" not in result.output


def test_a_process_that_is_gone_holds_nothing(run_module, redis_server):
    # PIDs stay below pid_max, which is at most 2 ** 22: no process has this one.
    result = run_module("held_connections", {"pid": 2 ** 22, "endpoints": {"redis": redis_server.url()}})
    assert not result.failed, result.output
    assert result.result == dict(result.result, connections={"redis": 0}, processes=0)
