# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""worker_plan in a real play: fed by the real probes, replicas counted from the inventory,
survey strings converted, bad input refused before anything else runs."""

from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import PG_DATABASE, PG_ROLE, PG_ROLE_PASSWORD, REDIS_PASSWORD

PLAY = """\
- name: Plan the gateway
  hosts: gateways
  connection: local
  gather_facts: false
  tasks:
    - name: Measure
      mcpgateway.tuning.capacity_info:
      register: gateway_capacity
    - name: Probe PostgreSQL
      mcpgateway.tuning.postgres_probe:
        dsn: "{{ mcpgateway_database_url }}"
      register: gateway_postgres
    - name: Probe Redis
      mcpgateway.tuning.redis_probe:
        url: "{{ mcpgateway_redis_url }}"
      register: gateway_redis
    - name: Plan
      mcpgateway.tuning.worker_plan:
        capacity: "{{ gateway_capacity }}"
        postgres: "{{ gateway_postgres }}"
        redis: "{{ gateway_redis }}"
        server: "{{ plan_server | default(omit) }}"
        profile: "{{ plan_profile | default(omit) }}"
        concurrency: "{{ plan_concurrency | default(omit) }}"
        allow_degraded: "{{ plan_allow_degraded | default(omit) }}"
        overrides: "{{ plan_overrides | default(omit) }}"
      register: gateway_plan
    - name: Save the plan
      ansible.builtin.copy:
        content: "{{ {'plan': gateway_plan, 'postgres': gateway_postgres, 'redis': gateway_redis} | to_json }}"
        dest: "{{ result_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      check_mode: false
      delegate_to: localhost
"""


def write_plan_files(folder, redis_server, postgres_server, user, password):
    """A play and an inventory of three gateways: two share a database and Redis, one uses the database
    limited to 10 connections."""
    shared_db = postgres_server.url(user, password, "postgres", driver="psycopg") + "?sslmode=disable"
    other_db = postgres_server.url(user, password, PG_DATABASE, driver="psycopg") + "?sslmode=disable"
    redis_url = redis_server.url(None, REDIS_PASSWORD)
    hosts = {
        "gw1": {"mcpgateway_database_url": shared_db},
        "gw2": {"mcpgateway_database_url": shared_db},
        "gw3": {"mcpgateway_database_url": other_db},
    }
    inventory = {"gateways": {"hosts": hosts, "vars": {
        "ansible_python_interpreter": sys.executable, "mcpgateway_redis_url": redis_url,
        "result_dir": str(folder)}}}
    (folder / "inventory.json").write_text(json.dumps(inventory))
    (folder / "plan.yml").write_text(PLAY)
    return folder


@pytest.fixture
def plan_files(tmp_path, redis_server, postgres_server):
    """Gateways connecting as a role without a connection limit: the server's 24 slots bind."""
    return write_plan_files(tmp_path, redis_server, postgres_server, "other", "other-pass-x1")


@pytest.fixture
def limited_role_plan_files(tmp_path, redis_server, postgres_server):
    """Gateways connecting as the role limited to 7 connections."""
    return write_plan_files(tmp_path, redis_server, postgres_server, PG_ROLE, PG_ROLE_PASSWORD)


def read_plans(folder, hosts=("gw1", "gw2", "gw3")):
    return dict((host, json.loads((folder / ("%s.json" % host)).read_text())) for host in hosts)


def test_plans_fit_the_budgets_the_probes_saw(run_playbook, plan_files):
    # Survey answers arrive as strings, for numbers and booleans alike.
    completed = run_playbook(str(plan_files / "plan.yml"), str(plan_files / "inventory.json"),
                             {"plan_concurrency": "40", "plan_allow_degraded": "yes"})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    plans = read_plans(plan_files)

    assert [plans[host]["plan"]["inputs"]["replicas"] for host in ("gw1", "gw2", "gw3")] == [2, 2, 1]
    for host, data in plans.items():
        plan, postgres, redis = data["plan"], data["postgres"], data["redis"]
        settings, totals = plan["settings"], plan["totals"]
        assert plan["changed"] is False
        assert plan["inputs"]["concurrency"] == 40
        # All replicas (and the surge) of this database fit what the probe saw free, less the headroom.
        replicas_total = plan["inputs"]["replicas"] + 1
        available = postgres["connections_available"]
        assert replicas_total * settings["workers"] * (settings["DB_POOL_SIZE"] + settings["DB_MAX_OVERFLOW"]) \
            <= available - max(5, -(-available // 10))
        assert totals["redis_connections"] <= redis["clients_available"]
        assert set(plan["reasons"]) == set(settings)
        # 24 PostgreSQL slots and 97 Redis clients are too few for 5 workers on each 2-vCPU gateway:
        # the plan is degraded, and the reason names each budget that lowered it.
        assert plan["degraded"] is True
        assert plan["reasons"]["workers"].startswith("workers = %d: degraded to fit " % settings["workers"])
        assert "degraded to fit PostgreSQL" in plan["reasons"]["workers"]
    # gw1 and gw2 together stay inside the budget of the database they share.
    shared = [plans[host]["plan"]["totals"]["db_connections_per_replica"] for host in ("gw1", "gw2")]
    assert sum(shared) <= plans["gw1"]["plan"]["totals"]["db_budget"]


def test_a_budget_that_fits_nobody_fails_with_the_numbers(run_playbook, limited_role_plan_files):
    completed = run_playbook(str(limited_role_plan_files / "plan.yml"),
                             str(limited_role_plan_files / "inventory.json"))
    output = completed.stdout

    assert completed.returncode != 0
    assert re.search(r"no plan fits: PostgreSQL cannot give 2 connections to each of \d+ workers of 3 replicas: "
                     r"2 connections \(7 seen free", output)
    assert "raise max_connections (or the role's CONNECTION LIMIT)" in output


@pytest.mark.parametrize("extra_vars, message", [
    ({"plan_profile": "turbo"}, "value of profile must be one of: balanced, high-throughput, high-concurrency, "
                                "memory-constrained, http1-only, got: turbo"),
    ({"plan_concurrency": "four"}, "argument 'concurrency' is of type str"),
    ({"plan_overrides": {"workers": "four"}}, "overrides.workers must be a whole number, got 'four'"),
    ({"plan_server": "gunicorn", "plan_profile": "http1-only"}, "profile http1-only is for server granian"),
])
def test_bad_input_fails_with_a_message_naming_it(run_playbook, plan_files, extra_vars, message):
    completed = run_playbook(str(plan_files / "plan.yml"), str(plan_files / "inventory.json"), extra_vars)

    assert completed.returncode != 0
    assert message in completed.stdout


def test_upstreams_chart_is_planned_from_its_values_against_the_real_budgets(run_cases, redis_server,
                                                                             postgres_server):
    """target=helm: the probes of the real servers, and the pods of upstream's chart as the replicas.
    The chart's defaults (autoscaler up to 10 pods, 13 with the rollout surge) cannot get 2
    connections per worker from a server of 24 slots: refused with the numbers. Two pods of 1 CPU
    and 1Gi fit, and the override holds the plan in the chart's keys."""
    probes = [
        {"name": "Probe PostgreSQL", "mcpgateway.tuning.postgres_probe": {
            "dsn": postgres_server.url("other", "other-pass-x1") + "?sslmode=disable"}, "register": "postgres"},
        {"name": "Probe Redis", "mcpgateway.tuning.redis_probe": {"url": redis_server.url(None, REDIS_PASSWORD)},
         "register": "redis"},
    ]
    two_pods = {"mcpContextForge": {"replicaCount": "2", "hpa": {"enabled": False},
                                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}
    budgets = {"postgres": "{{ postgres }}", "redis": "{{ redis }}"}
    defaults, fitted, granian = run_cases([
        ("worker_plan", dict(budgets, target="helm", helm_values={})),
        ("worker_plan", dict(budgets, target="helm", helm_values=two_pods, allow_degraded=True)),
        ("worker_plan", dict(budgets, target="helm", helm_values=two_pods, server="granian")),
    ], setup_tasks=probes)

    assert defaults["failed"]
    assert re.search(r"no plan fits: PostgreSQL cannot give 2 connections to each of \d+ workers of 13 replicas",
                     defaults["msg"]), defaults["msg"]

    assert not fitted.get("failed"), fitted.get("msg")
    assert fitted["replicas_reason"].startswith("replicas = 2: replicaCount 2 (the autoscaler is off), plus 1 more")
    assert fitted["totals"]["replicas_with_surge"] == 3
    assert fitted["totals"]["db_connections"] <= fitted["totals"]["db_budget"]
    config = fitted["override"]["mcpContextForge"]["config"]
    assert config["GUNICORN_WORKERS"] == str(fitted["settings"]["workers"])
    assert config["DB_POOL_SIZE"] == str(fitted["settings"]["DB_POOL_SIZE"])
    assert fitted["override"]["mcpContextForge"]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert fitted["not_rendered"] == ["backlog", "graceful_timeout", "keepalive", "worker_class"]

    assert granian["failed"] and "which runs Gunicorn only" in granian["msg"]
