# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A partial run plans as the full run does: the replicas are counted over the fleet.

Three gateway hosts share one real PostgreSQL. Planned together, each gets a third of the
connection budget (with the rollout surge). Planned alone (--limit gw1), or with one host
unreachable, gw1 used to get the whole budget, and under load the others' pools would then
exceed max_connections. The hosts run on localhost; the unreachable one points at a closed port.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from harness.throwaway import PostgresServer, free_port

ROLE, PASSWORD, DATABASE = "fleet", "fleet-pass-Hx82c", "fleetdb"
PLAY = """\
- name: Plan each gateway of the fleet
  hosts: mcpgateway
  gather_facts: false
  tasks:
    - name: Measure
      mcpgateway.tuning.capacity_info:
      register: fleet_capacity
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
    - name: Keep the plan
      ansible.builtin.copy:
        content: "{{ fleet_plan | to_json }}"
        dest: "{{ plans }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


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
