# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans for upstream's Helm chart and Compose file: limits and replicas read in their keys
(charts/mcp-stack values.yaml and docker-compose.yml of IBM/mcp-context-forge at ecba50e4), the
plan within the budgets of every replica that may run, rendered back in their keys."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils import orchestrators
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing import make_plan
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError

GIB = 1024 ** 3
# PostgreSQL's default max_connections 100, 3 reserved for superusers; Redis' maxclients 15000.
POSTGRES = {"reachable": True, "error": None, "connections_available": 97, "pgbouncer": False}
REDIS = {"reachable": True, "error": None, "clients_available": 14990, "latency_ms": {"p99": 0.3}}


def plan_for(found):
    return make_plan({"capacity": found["capacity"], "replicas": found["replicas"],
                      "rollout_surge": found["rollout_surge"], "postgres": POSTGRES, "redis": REDIS})


def test_the_charts_defaults_count_every_pod_the_autoscaler_may_start():
    # The values upstream ships: limits 2 CPUs / 2Gi, HPA 2 to 10 replicas, 2 workers x (15 + 30)
    # connections each, 900 against 100. The plan divides the budget among 10 + 3 surging pods.
    found = orchestrators.helm_target({})
    assert found["replicas"] == 10 and found["rollout_surge"] == 3
    assert found["reason"].startswith("the autoscaler's maxReplicas 10 (mcpContextForge.hpa)")
    assert "the chart's defaults (appVersion 1.0.8) for resources, hpa" in found["reason"]
    assert found["capacity"]["cpu"]["effective"] == 2.0
    assert found["capacity"]["memory"]["effective_bytes"] == 2 * GIB
    plan = plan_for(found)
    assert plan["totals"]["replicas_with_surge"] == 13
    assert plan["totals"]["db_connections"] <= 97

    override, not_rendered = orchestrators.helm_override(plan, found)
    config = override["mcpContextForge"]["config"]
    assert config["GUNICORN_WORKERS"] == str(plan["settings"]["workers"])
    assert config["GUNICORN_PRELOAD_APP"] == "true"
    assert int(config["DB_POOL_SIZE"]) + int(config["DB_MAX_OVERFLOW"]) == plan["totals"]["db_connections_per_worker"]
    assert all(isinstance(value, str) for value in config.values())
    assert {"GUNICORN_TIMEOUT", "GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "DB_POOL_TIMEOUT",
            "DB_POOL_RECYCLE", "REDIS_MAX_CONNECTIONS"} <= set(config)
    # No key the chart's config does not know; lower-case settings stay out.
    assert not [name for name in config if name != name.upper()]
    assert not_rendered == ["backlog", "graceful_timeout", "keepalive", "worker_class"]
    resources = override["mcpContextForge"]["resources"]
    assert resources["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert resources["requests"]["memory"] == "%dMi" % -(-plan["totals"]["memory_mb"] // 1)


def test_a_fixed_replica_count_and_millicores():
    values = {"mcpContextForge": {"replicaCount": 3, "hpa": {"enabled": False},
                                  "resources": {"limits": {"cpu": "1500m", "memory": "1536Mi"}}}}
    found = orchestrators.helm_target(values)
    assert found["replicas"] == 3 and found["rollout_surge"] == 1
    assert found["reason"].startswith("replicaCount 3 (the autoscaler is off), plus 1 more during a rolling update")
    assert found["capacity"]["cpu"] == {"effective": 1.5, "effective_int": 1, "effective_ceil": 2,
                                        "binding": "Helm mcpContextForge.resources.limits.cpu 1500m"}
    assert found["capacity"]["memory"]["binding"] == "Helm mcpContextForge.resources.limits.memory 1536Mi (1536 MiB)"
    plan = plan_for(found)
    assert plan["totals"]["memory_mb"] <= 0.85 * 1536


def test_given_replicas_win_and_the_surge_follows_them():
    found = orchestrators.helm_target({}, replicas=4)
    assert (found["replicas"], found["rollout_surge"]) == (4, 1)
    assert found["reason"].startswith("4 given, plus 1 more")


@pytest.mark.parametrize("values, message", [
    ({"mcpContextForge": {"resources": {"limits": {"cpu": "2"}}}},
     "mcpContextForge.resources.limits.memory is not set: without a limit a pod may use its node's whole memory"),
    ({"mcpContextForge": {"resources": {"limits": {"cpu": "two", "memory": "1Gi"}}}},
     "mcpContextForge.resources.limits.cpu is 'two', not a Kubernetes CPU quantity"),
    ({"mcpContextForge": {"resources": {"limits": {"cpu": "1", "memory": "1GB"}}}},
     "mcpContextForge.resources.limits.memory is '1GB', not a Kubernetes memory quantity"),
    ({"mcpContextForge": {"resources": {"limits": {"cpu": "0m", "memory": "1Gi"}}}},
     "mcpContextForge.resources.limits.cpu is '0m': it must be above 0"),
    ({"mcpContextForge": {"hpa": {"enabled": True, "maxReplicas": 0}}},
     "mcpContextForge.hpa.maxReplicas must be at least 1, got 0"),
    ({"mcpContextForge": []}, "helm_values.mcpContextForge is a list, not a mapping"),
    ("values.yaml", "helm_values must be the release's values as a mapping"),
])
def test_values_that_cannot_be_planned_are_named(values, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        orchestrators.helm_target(values)


@pytest.mark.parametrize("text, size", [("2Gi", 2 * GIB), ("768Mi", 768 * 2 ** 20), ("1G", 10 ** 9),
                                        ("1073741824", GIB), ("1.5Gi", 3 * GIB // 2)])
def test_kubernetes_memory_quantities(text, size):
    assert orchestrators.kubernetes_memory("memory", text) == size


def compose_file(**deploy):
    deploy.setdefault("resources", {"limits": {"cpus": "2", "memory": "1G"}})
    return {"services": {"gateway": {"image": "mcpgateway/mcpgateway:latest", "deploy": deploy},
                         "postgres": {"image": "postgres:18"}}}


def test_compose_replicas_from_a_variables_default_and_binary_sizes():
    found = orchestrators.compose_target(compose_file(replicas="${GATEWAY_REPLICAS:-3}"), "gateway")
    assert found["replicas"] == 3 and found["rollout_surge"] == 0
    assert found["reason"] == ("deploy.replicas 3 of service gateway, plus 0 during an update (stop-first: the old "
                               "ones stop first); GATEWAY_REPLICAS unset, so its default 3")
    # Docker reads 1G as 1 GiB.
    assert found["capacity"]["memory"]["effective_bytes"] == GIB
    plan = plan_for(found)
    override, not_rendered = orchestrators.compose_override(plan, "gateway")
    environment = override["services"]["gateway"]["environment"]
    assert environment["GUNICORN_WORKERS"] == str(plan["settings"]["workers"])
    assert set(override["services"]) == {"gateway"} and not_rendered


def test_a_start_first_update_surges_by_its_parallelism():
    found = orchestrators.compose_target(compose_file(replicas=2, update_config={"order": "start-first",
                                                                                 "parallelism": 2}), "gateway")
    assert (found["replicas"], found["rollout_surge"]) == (2, 2)


@pytest.mark.parametrize("project, service, message", [
    (compose_file(), "mcpgateway", "compose_project has no service mcpgateway; its services are: gateway, postgres"),
    (compose_file(resources={"limits": {"memory": "1G"}}), "gateway",
     "services.gateway.deploy.resources.limits.cpus is not set"),
    (compose_file(replicas="${GATEWAY_REPLICAS}"), "gateway",
     r"services.gateway.deploy.replicas is \$\{GATEWAY_REPLICAS\}, a variable without a default"),
    (compose_file(resources={"limits": {"cpus": "2", "memory": "1Q"}}), "gateway",
     "services.gateway.deploy.resources.limits.memory is '1Q', not a memory size"),
])
def test_compose_files_that_cannot_be_planned_are_named(project, service, message):
    with pytest.raises(PlanError, match=message):
        orchestrators.compose_target(project, service)
