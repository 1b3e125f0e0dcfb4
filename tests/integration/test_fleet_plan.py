# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A partial run plans as the full run does: the replicas are counted over the fleet, and what the
replicas outside the run hold is theirs, not in use by others.

Three gateway hosts share one real PostgreSQL. Planned together, each gets a third of the
connection budget (with the rollout surge). Planned alone (--limit gw1), or with one host
unreachable, gw1 used to get the whole budget, and under load the others' pools would then
exceed max_connections. The hosts run on localhost; the unreachable one points at a closed port.

The replicas outside a run hold sessions and connections that the probes see in use. Counted as in
use, their share would be reserved twice and the partial run would plan smaller pools than the full
run. Here gw2 and gw3 hold real PostgreSQL sessions and Redis connections from their own loopback
addresses (through relays bound to them, since libpq cannot choose its source address).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import psycopg
import pytest

from harness.throwaway import PostgresServer, RedisServer, SourceBoundRelay, free_port

ROLE, PASSWORD, DATABASE = "fleet", "fleet-pass-Hx82c", "fleetdb"
# The plays of both tests: measure, then what each test probes and plans, then keep each host's plan.
MEASURE = """\
- name: Plan each gateway of the fleet
  hosts: mcpgateway
  gather_facts: false
  tasks:
    - name: Measure
      mcpgateway.tuning.capacity_info:
      register: fleet_capacity
"""
KEEP_THE_PLAN = """\
    - name: Keep the plan
      ansible.builtin.copy:
        content: "{{ fleet_plan | to_json }}"
        dest: "{{ plans }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""
PLAY = MEASURE + """\
    # Once for all: the probes of three hosts at once would see each other's sessions.
    - name: Probe PostgreSQL
      mcpgateway.tuning.postgres_probe:
        dsn: "{{ mcpgateway_database_url }}"
        fail_unreachable: true
      register: fleet_postgres
      run_once: true
    - name: Name the database this host uses, as the tune role does
      ansible.builtin.set_fact:
        fleet_database_endpoint: "{{ fleet_postgres.endpoint }}"
    - name: Plan
      mcpgateway.tuning.worker_plan:
        capacity: "{{ fleet_capacity }}"
        postgres: "{{ fleet_postgres }}"
        shared_by: [fleet_database_endpoint]
      register: fleet_plan
""" + KEEP_THE_PLAN


@pytest.fixture(scope="module")
def database():
    # Room for 3 replicas + 1 during a rollout, each with a few workers.
    with PostgresServer(settings={"max_connections": 100}) as server:
        server.sql("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT 60" % (ROLE, PASSWORD))
        server.sql("CREATE DATABASE %s OWNER %s" % (DATABASE, ROLE))
        yield "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, server.port, DATABASE)


def write_inventory(path, database_url, unreachable=None):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "mcpgateway_database_url": database_url}
    hosts = {"gw1": dict(local), "gw2": dict(local), "gw3": dict(local)}
    if unreachable:
        hosts[unreachable] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": free_port(),
                              "ansible_ssh_common_args": "-o ConnectTimeout=3", "mcpgateway_database_url": database_url}
    path.write_text(json.dumps({"mcpgateway": {"hosts": hosts}}))


def plan(run_playbook, tmp_path, name, database_url, limit=None, unreachable=None):
    folder = tmp_path / name
    folder.mkdir()
    inventory, playbook = folder / "inventory.json", folder / "plan.yml"
    write_inventory(inventory, database_url, unreachable)
    playbook.write_text(PLAY)
    completed = run_playbook(str(playbook), str(inventory), {"plans": str(folder)}, limit=limit)
    plans = dict((entry[:-len(".json")], json.loads((folder / entry).read_text()))
                 for entry in os.listdir(folder) if entry.endswith(".json") and entry != "inventory.json")
    return completed, plans


def test_a_limited_or_partly_unreachable_run_plans_as_the_full_run(run_playbook, tmp_path, database):
    completed, full = plan(run_playbook, tmp_path, "full", database)
    assert completed.returncode == 0, completed.stdout[-3000:]
    limited = plan(run_playbook, tmp_path, "limited", database, limit="gw1")[1]
    completed, partly = plan(run_playbook, tmp_path, "unreachable", database, unreachable="gw3")

    assert sorted(full) == ["gw1", "gw2", "gw3"] and sorted(limited) == ["gw1"]
    assert sorted(partly) == ["gw1", "gw2"], completed.stdout[-2000:]
    whole = full["gw1"]
    assert whole["inputs"]["replicas"] == 3
    assert not any("not in this run" in warning or "did not answer" in warning for warning in whole["plan_warnings"])
    assert whole["replicas_reason"] == ("replicas = 3: 3 replica(s) share this host's servers, counted over "
                                        "inventory group mcpgateway: gw1, gw2, gw3")
    for partial in (limited["gw1"], partly["gw1"]):
        assert partial["inputs"]["replicas"] == 3
        assert partial["settings"] == whole["settings"]
        assert partial["totals"]["db_connections"] == whole["totals"]["db_connections"]
    assert limited["gw1"]["replica_hosts"] == ["gw1", "gw2", "gw3"]
    assert "gw2, gw3 are not in this run (--limit or a partial inventory): counted as replicas" in \
        " ".join(limited["gw1"]["plan_warnings"])
    assert "gw3 did not answer during planning (unreachable or failed): counted" in \
        " ".join(partly["gw1"]["plan_warnings"])


# Each host probes, counts what its gateway holds, and plans with it.
HELD_PLAY = MEASURE + """\
    - name: Probe PostgreSQL
      mcpgateway.tuning.postgres_probe:
        dsn: "{{ mcpgateway_database_url }}"
        fail_unreachable: true
      register: fleet_postgres
    - name: Probe Redis
      mcpgateway.tuning.redis_probe:
        url: "{{ mcpgateway_redis_url }}"
        fail_unreachable: true
      register: fleet_redis
    - name: Name the servers this host uses, as the tune role does
      ansible.builtin.set_fact:
        fleet_database_endpoint: "{{ fleet_postgres.endpoint }}"
        fleet_redis_endpoint: "{{ fleet_redis.endpoint }}"
    - name: Count what this host's gateway holds (a process that holds nothing of theirs)
      mcpgateway.tuning.held_connections:
        pid: "{{ gateway_pid }}"
        endpoints: {postgres: "{{ fleet_database_endpoint }}", redis: "{{ fleet_redis_endpoint }}"}
      register: fleet_held
    - name: Plan
      mcpgateway.tuning.worker_plan:
        capacity: "{{ fleet_capacity }}"
        postgres: "{{ fleet_postgres }}"
        redis: "{{ fleet_redis }}"
        shared_by: [fleet_database_endpoint, fleet_redis_endpoint]
        held_connections_from: fleet_held
      register: fleet_plan
""" + KEEP_THE_PLAN


@pytest.fixture(scope="module")
def servers():
    # With a password, Redis's protected mode lets in clients from loopback addresses other than 127.0.0.1.
    with PostgresServer(settings={"max_connections": 100}) as postgres, \
            RedisServer(password=PASSWORD, maxclients=300) as redis_server:
        # The replicas' own loopback addresses, not only 127.0.0.1.
        postgres.use_hba("host all all 127.0.0.0/8 scram-sha-256")
        postgres.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, PASSWORD))
        postgres.sql("CREATE DATABASE %s OWNER %s" % (DATABASE, ROLE))
        yield postgres, redis_server


def hold(postgres, redis_server, source, sessions, connections):
    """Sessions and connections that the servers see come from source, held until closed."""
    relay = SourceBoundRelay(postgres.port, source).__enter__()
    held = [psycopg.connect(host="127.0.0.1", port=relay.port, user=ROLE, password=PASSWORD, dbname=DATABASE)
            for dummy in range(sessions)]
    held += [socket.create_connection((redis_server.host, redis_server.port), source_address=(source, 0))
             for dummy in range(connections)]
    return relay, held


def test_a_limited_run_counts_what_the_replicas_outside_it_hold_as_theirs(run_playbook, tmp_path, servers):
    postgres, redis_server = servers
    database_url = "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, postgres.port, DATABASE)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "mcpgateway_database_url": database_url, "mcpgateway_redis_url": redis_server.url(None, PASSWORD)}
    hosts = dict((name, dict(local, ansible_host=address))
                 for name, address in (("gw1", "127.0.0.1"), ("gw2", "127.0.0.2"), ("gw3", "127.0.0.3")))
    idle = subprocess.Popen(["sleep", "600"])  # pylint: disable=consider-using-with

    def limited_plan(name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "inventory.json").write_text(json.dumps({"mcpgateway": {"hosts": hosts}}))
        (folder / "plan.yml").write_text(HELD_PLAY)
        completed = run_playbook(str(folder / "plan.yml"), str(folder / "inventory.json"),
                                 {"plans": str(folder), "gateway_pid": idle.pid}, limit="gw1")
        assert completed.returncode == 0, completed.stdout[-3000:]
        return json.loads((folder / "gw1.json").read_text())

    opened = []
    try:
        alone = limited_plan("nothing-held")
        opened = [hold(postgres, redis_server, "127.0.0.2", 6, 5), hold(postgres, redis_server, "127.0.0.3", 4, 3)]
        # A client of the same role from an address of no replica stays in use.
        opened.append(hold(postgres, redis_server, "127.0.0.9", 2, 2))
        busy = limited_plan("held")
    finally:
        for relay, held in opened:
            for connection in held:
                connection.close()
            relay.__exit__()
        idle.kill()
        idle.wait()

    assert busy["inputs"]["replicas"] == alone["inputs"]["replicas"] == 3
    # The probes saw 12 sessions and 10 connections more in use; the plan counts 10 and 8 of them as
    # the replicas' own: the budgets shrink only by the stranger's 2 each.
    assert busy["inputs"]["db_available"] == alone["inputs"]["db_available"] - 12
    assert busy["inputs"]["current_db_connections"] == 10
    assert busy["inputs"]["redis_available"] == alone["inputs"]["redis_available"] - 10
    assert busy["inputs"]["current_redis_connections"] == 8
    assert (busy["totals"]["db_budget"], busy["totals"]["redis_budget"]) == (
        alone["totals"]["db_budget"] - 2, alone["totals"]["redis_budget"] - 2)
    assert busy["replicas_reason"].endswith(
        "; held now by replicas not counted on their hosts, theirs and not in use: 10 PostgreSQL sessions of gw2, "
        "gw3, by address (gw2: 127.0.0.2, gw3: 127.0.0.3); 8 Redis connections of gw2, gw3, by address (gw2: "
        "127.0.0.2, gw3: 127.0.0.3)")
