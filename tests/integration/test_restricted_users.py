# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Redis user that may connect but not read what the probe needs (an ACL with -info, as managed
services hand out): the probe says what to grant, fail_unreachable fails on it, and worker_plan names
that cause instead of a missing probe result."""

from __future__ import annotations

import pytest

from harness.throwaway import RedisServer

USER, PASSWORD = "noinfo", "noinfo-pass-Vb52q"
NO_CONFIG_USER = "noconfig"
MAXCLIENTS = 77
PLAY = """\
- name: Plan with a Redis user that may not run INFO
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Measure
      mcpgateway.tuning.capacity_info:
      register: gateway_capacity
    - name: Probe Redis
      mcpgateway.tuning.redis_probe:
        url: "{{ redis_url }}"
      register: gateway_redis
    - name: Plan
      mcpgateway.tuning.worker_plan:
        capacity: "{{ gateway_capacity }}"
        redis: "{{ gateway_redis }}"
"""


@pytest.fixture(scope="module")
def redis():
    with RedisServer(acl_users={USER: (PASSWORD, "~* &* +@all -info"),
                                NO_CONFIG_USER: (PASSWORD, "~* &* +@all -config")}, maxclients=MAXCLIENTS) as server:
        yield server


def test_the_probe_says_which_command_to_grant(run_module, redis):
    run = run_module("redis_probe", {"url": redis.url(USER, PASSWORD)})
    assert run.rc == 0 and run.result["reachable"] is True and run.result["clients_available"] is None
    assert run.result["error"] == (
        "connected to redis://127.0.0.1:%d/0 and logged in, but this user may not run INFO, so the client limit and "
        "the clients in use cannot be read: grant it (ACL SETUSER <user> +info; the probe runs +ping +info "
        "+config|get)" % redis.port)
    failed = run_module("redis_probe", {"url": redis.url(USER, PASSWORD), "fail_unreachable": True})
    assert failed.rc != 0 and failed.result["msg"] == run.result["error"]


def test_the_planner_names_the_missing_permission(run_playbook, redis, tmp_path):
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAY)
    completed = run_playbook(str(playbook), "localhost,", {"redis_url": redis.url(USER, PASSWORD)})
    assert completed.returncode != 0
    assert ("redis was reached, but its connection budget could not be read: connected to redis://127.0.0.1:%d/0 "
            "and logged in, but this user may not run INFO" % redis.port) in completed.stdout, completed.stdout[-3000:]


def test_a_given_maxclients_gives_way_to_the_servers_own(run_module, redis):
    # Redis 7 reports maxclients in INFO, which this user may run: the operator's figure, meant for
    # servers before 7 that let nobody read it, does not replace what the server says.
    run = run_module("redis_probe", {"url": redis.url(NO_CONFIG_USER, PASSWORD), "maxclients": 5})
    assert run.rc == 0 and run.result["error"] is None
    assert (run.result["maxclients"], run.result["maxclients_source"]) == (MAXCLIENTS, "INFO")
    assert run.result["clients_available"] == MAXCLIENTS - run.result["connected_clients"]
    refused = run_module("redis_probe", {"url": redis.url(NO_CONFIG_USER, PASSWORD), "maxclients": 0})
    assert refused.failed and refused.result["msg"] == "maxclients must be 1 to 1000000, got 0"
