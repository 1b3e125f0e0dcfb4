# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mcpgateway.tuning.probe playbook against localhost and the real servers."""

from __future__ import annotations

import re
import socket
import sys

import pytest

from harness.throwaway import RedisServer
from conftest import (
    PG_DATABASE,
    PG_MAX_CONNECTIONS,
    PG_ROLE,
    PG_ROLE_LIMIT,
    PG_ROLE_PASSWORD,
    REDIS_MAXCLIENTS,
    REDIS_PASSWORD,
)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text("mcpgateway:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                    "      ansible_python_interpreter: %s\n" % sys.executable)
    return str(path)


def probe_vars(redis_server, postgres_server):
    return {
        "mcpgateway_redis_url": redis_server.url(None, REDIS_PASSWORD),
        "mcpgateway_database_url": postgres_server.url(PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, driver="psycopg")
        + "?sslmode=disable",
    }


def report_lines(output):
    return re.findall(r'^\s+"(.*)",?$', output, re.MULTILINE)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_report_shows_capacity_and_both_budgets(run_playbook, inventory, redis_server, postgres_server, check):
    completed = run_playbook("mcpgateway.tuning.probe", inventory, probe_vars(redis_server, postgres_server),
                             check=check)
    output = completed.stdout

    assert completed.returncode == 0, output + completed.stderr
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", output)
    lines = report_lines(output)
    assert lines[0].startswith("localhost: capacity of the process (cgroup ")
    assert any(line.startswith("  CPU ") and "rounded down" in line for line in lines)
    assert any(line.startswith("  Memory ") and "MiB usable of" in line for line in lines)
    assert "maxclients %d, 0 connected (0 blocked), %d available" % (REDIS_MAXCLIENTS, REDIS_MAXCLIENTS) in output
    assert "max_connections %d" % PG_MAX_CONNECTIONS in output
    assert "%d available to %s on %s; limit: role connection limit" % (PG_ROLE_LIMIT, PG_ROLE, PG_DATABASE) in output
    assert REDIS_PASSWORD not in output and PG_ROLE_PASSWORD not in output
    # The role's 7 connections, less 5 headroom, are too few for any plan: the report says why.
    assert "Plan      no plan fits: PostgreSQL cannot give 2 connections to each of" in output


def test_report_shows_the_plan_with_its_reasons(run_playbook, inventory, redis_server):
    # Of Redis's 97 clients, 20 held here leave 77, less 8 headroom, over the replica and its surge:
    # 34 each, enough for one worker (3 pools of at least 6 and 4 fixed clients), and Gunicorn plans at
    # least 2 on any host: degraded, and said.
    held = [socket.create_connection((redis_server.host, redis_server.port)) for index in range(20)]
    try:
        completed = run_playbook("mcpgateway.tuning.probe", inventory, {
            "mcpgateway_redis_url": redis_server.url(None, REDIS_PASSWORD), "mcpgateway_http_server": "gunicorn",
            "mcpgateway_tune_allow_degraded": True})
    finally:
        for connection in held:
            connection.close()
    lines = report_lines(completed.stdout)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    plan_line = [line for line in lines if line.startswith("  Plan ")][0]
    assert re.match(r"  Plan      gunicorn, balanced: 1 workers, DB_POOL_SIZE \d+ \+ \d+ overflow, "
                    r"REDIS_MAX_CONNECTIONS \d+, for 1 replica\(s\) \+ 1 during a rollout$", plan_line)
    assert any(line.strip().startswith("replicas = 1: 1 replica(s) share this host's servers, counted over") for
               line in lines)
    assert any(line.strip().startswith("workers = 1: degraded to fit Redis") for line in lines)
    assert any(line.strip().startswith("REDIS_MAX_CONNECTIONS = ") and "budget" in line for line in lines)
    assert any(line.strip().startswith("WARNING: degraded: Redis cannot give 22 connections") for line in lines)


def test_unreachable_servers_are_reported_not_failed(run_playbook, inventory, silent_port):
    completed = run_playbook("mcpgateway.tuning.probe", inventory, {
        "mcpgateway_redis_url": "redis://127.0.0.1:%d/0" % silent_port,
        "mcpgateway_database_url": "postgresql://x@127.0.0.1:%d/db" % silent_port,
        "mcpgateway_probe_timeout": 2,
    })

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Redis     UNREACHABLE: no answer from redis://127.0.0.1:%d/0 within 2.0 s" % silent_port in completed.stdout
    assert "Postgres  UNREACHABLE: no answer from postgresql://127.0.0.1:%d/db within 2 s" % silent_port \
        in completed.stdout


def fill(server, at_most=20):
    """Connections to server until it refuses one: Redis answers a client beyond maxclients with an error
    and closes, and sends nothing to one it keeps."""
    held = []
    while len(held) < at_most:
        connection = socket.create_connection((server.host, server.port), timeout=5)
        connection.settimeout(0.5)
        try:
            refusal = connection.recv(200)
        except socket.timeout:
            held.append(connection)
            continue
        connection.close()
        assert b"max number of clients reached" in refusal, refusal
        return held
    raise AssertionError("Redis took %d clients and refused none" % at_most)


def test_a_full_redis_is_reported_full_not_unreachable(run_playbook, inventory):
    with RedisServer(maxclients=4) as full:
        held = fill(full)
        try:
            completed = run_playbook("mcpgateway.tuning.probe", inventory, {"mcpgateway_redis_url": full.url()})
        finally:
            for connection in held:
                connection.close()

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert ("Redis     FULL, no client slot free now: redis://127.0.0.1:%d/0 has no client slot left (max number of "
            "clients reached): raise maxclients" % full.port) in completed.stdout
    assert "Plan      not made: a server above is unreachable or full (the tune playbook plans a full server from" \
        in completed.stdout


def test_fail_unreachable_stops_the_play(run_playbook, inventory, redis_server):
    completed = run_playbook("mcpgateway.tuning.probe", inventory, {
        "mcpgateway_redis_url": redis_server.url(None, "wrong-password"),
        "mcpgateway_probe_fail_unreachable": True,
    })

    assert completed.returncode != 0
    assert "authentication to redis://127.0.0.1:%d/0 failed" % redis_server.port in completed.stdout


def test_without_servers_only_capacity_is_reported(run_playbook, inventory):
    completed = run_playbook("mcpgateway.tuning.probe", inventory)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Redis     not probed: set mcpgateway_redis_url" in completed.stdout
    assert "Postgres  not probed: set mcpgateway_database_url" in completed.stdout


@pytest.mark.parametrize("playbook", ["probe", "install", "tune", "benchmark", "site"])
def test_a_host_pattern_that_matches_no_host_fails_the_run(run_playbook, inventory, playbook):
    # "skipping: no hosts matched" would be a green job in AWX.
    completed = run_playbook("mcpgateway.tuning." + playbook, inventory, {"mcpgateway_hosts": "gateways"})
    assert completed.returncode != 0
    assert ("No inventory host matches mcpgateway_hosts (gateways): put the gateway hosts in the inventory group "
            "mcpgateway, or set mcpgateway_hosts to their group or pattern") in completed.stdout, completed.stdout
