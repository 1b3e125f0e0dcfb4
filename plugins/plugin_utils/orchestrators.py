# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upstream's Helm chart (charts/mcp-stack) and Compose file around a plan: the limits of the
gateway's pod or service are its capacity, every replica that may run at once shares the
database, and the plan comes back as a values override or a Compose override in upstream's keys.

Render only: nothing here reaches a cluster. Upstream's image reads GUNICORN_WORKERS,
GUNICORN_TIMEOUT, GUNICORN_MAX_REQUESTS(_JITTER) and GUNICORN_PRELOAD_APP from its environment
(run-gunicorn.sh) and the gateway's DB_POOL_* and REDIS_* settings; the other Gunicorn settings of
a plan (keepalive, backlog, graceful timeout, worker class) only its config file could carry, so
they are listed as not rendered.
"""

from __future__ import annotations

import math
import re

from ansible_collections.mcpgateway.tuning.plugins.module_utils.capacity import cpu_as_int, cpu_ceil
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError, whole_number

HELM_SECTION = "mcpContextForge"
# charts/mcp-stack/values.yaml of upstream's appVersion 1.0.8, for keys a values file leaves out.
HELM_DEFAULTS = {"replicaCount": 2, "hpa": {"enabled": True, "minReplicas": 2, "maxReplicas": 10},
                 "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "768Mi"}}}
# The chart's Deployment sets no strategy: Kubernetes' rolling update starts up to 25 % more pods.
KUBERNETES_DEFAULT_MAX_SURGE = "25%"
GUNICORN_ENVIRONMENT = (("workers", "GUNICORN_WORKERS"), ("timeout", "GUNICORN_TIMEOUT"),
                        ("max_requests", "GUNICORN_MAX_REQUESTS"),
                        ("max_requests_jitter", "GUNICORN_MAX_REQUESTS_JITTER"),
                        ("preload_app", "GUNICORN_PRELOAD_APP"))
MIB = 1024 * 1024

KUBERNETES_MEMORY_UNITS = {"": 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15,
                           "E": 10 ** 18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40,
                           "Pi": 2 ** 50, "Ei": 2 ** 60}
# Docker's units (and Compose's): binary, case-insensitive, with or without the b.
COMPOSE_MEMORY_UNITS = {"": 1, "b": 1, "k": 2 ** 10, "kb": 2 ** 10, "m": 2 ** 20, "mb": 2 ** 20, "g": 2 ** 30,
                        "gb": 2 ** 30, "t": 2 ** 40, "tb": 2 ** 40}
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}$")


def _positive(name, value, text):
    if value <= 0 or math.isinf(value):
        raise PlanError("%s is %r: it must be above 0" % (name, text))
    return value


def kubernetes_cpu(name, value):
    """CPUs of a Kubernetes quantity: 2, "1.5", "500m"."""
    text = str(value).strip()
    match = re.match(r"^%s(m?)$" % NUMBER, text)
    if isinstance(value, bool) or not match:
        raise PlanError("%s is %r, not a Kubernetes CPU quantity such as 2, 1.5 or 500m" % (name, value))
    cpus = float(match.group(1)) / (1000.0 if match.group(2) else 1.0)
    return _positive(name, cpus, value)


def kubernetes_memory(name, value):
    """Bytes of a Kubernetes quantity: 2Gi, 768Mi, 1G (10^9), 1073741824."""
    text = str(value).strip()
    match = re.match(r"^%s(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$" % NUMBER, text)
    if isinstance(value, bool) or not match:
        raise PlanError("%s is %r, not a Kubernetes memory quantity such as 2Gi, 768Mi or 1G" % (name, value))
    return int(_positive(name, float(match.group(1)) * KUBERNETES_MEMORY_UNITS[match.group(2)], value))


def compose_cpus(name, value):
    text = str(value).strip()
    if isinstance(value, bool) or not re.match(r"^%s$" % NUMBER, text):
        raise PlanError("%s is %r, not a number of CPUs such as 1.5" % (name, value))
    return _positive(name, float(text), value)


def compose_memory(name, value):
    """Bytes of a Compose memory size: 1G, 512m, 1gb (binary, as Docker reads them), or bytes."""
    text = str(value).strip()
    match = re.match(r"^%s([a-zA-Z]*)$" % NUMBER, text)
    if isinstance(value, bool) or not match or match.group(2).lower() not in COMPOSE_MEMORY_UNITS:
        raise PlanError("%s is %r, not a memory size such as 1G or 512M (binary, as Docker and Podman read them)" % (name, value))
    return int(_positive(name, float(match.group(1)) * COMPOSE_MEMORY_UNITS[match.group(2).lower()], value))


def mib_text(size):
    return "%d MiB" % (size // MIB)


def capacity_of(cpus, cpu_source, memory_bytes, memory_source):
    """A capacity as capacity_info returns it, for the planner, from an orchestrator's limits."""
    return {"cpu": {"effective": round(cpus, 3), "effective_int": cpu_as_int(cpus), "effective_ceil": cpu_ceil(cpus),
                    "binding": cpu_source},
            "memory": {"effective_bytes": memory_bytes, "effective_mib": memory_bytes // MIB,
                       "binding": memory_source}}


def surge_of(replicas, max_surge):
    """Pods a rolling update may add: a percentage rounds up, as Kubernetes rounds maxSurge."""
    text = str(max_surge).strip()
    if text.endswith("%") and re.match(r"^[0-9]+%$", text):
        return int(math.ceil(replicas * int(text[:-1]) / 100.0))
    if re.match(r"^[0-9]+$", text):
        return int(text)
    raise PlanError("maxSurge is %r, not a number of pods or a percentage such as 25%%" % (max_surge,))


def _section(values, key, where):
    section = values.get(key)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise PlanError("%s.%s is a %s, not a mapping: give the values file as YAML's mapping"
                        % (where, key, type(section).__name__))
    return section


def helm_target(values, replicas=None):
    """Capacity, replicas and rollout surge of the gateway pods of upstream's chart, from the values
    the release uses (the chart's defaults fill what they leave out, and say so); replicas, when
    given, wins over the count of the values."""
    if not isinstance(values, dict):
        raise PlanError("helm_values must be the release's values as a mapping (for example "
                        "lookup('file', 'values.yaml') | from_yaml), got %s" % type(values).__name__)
    gateway = _section(values, HELM_SECTION, "helm_values")
    hpa = dict(HELM_DEFAULTS["hpa"], **_section(gateway, "hpa", HELM_SECTION))
    resources = _section(gateway, "resources", HELM_SECTION)
    limits = dict(HELM_DEFAULTS["resources"]["limits"]) if "resources" not in gateway \
        else _section(resources, "limits", HELM_SECTION + ".resources")
    defaults = [] if "resources" in gateway else ["resources"]
    where = HELM_SECTION + ".resources.limits."
    for key in ("cpu", "memory"):
        if key not in limits:
            raise PlanError("%s%s is not set: without a limit a pod may use its node's whole %s, and upstream's "
                            "image starts 2 x the node's CPUs + 1 workers (issue #6494). Set the limit the pods "
                            "run with" % (where, key, "CPU" if key == "cpu" else "memory"))
    cpus = kubernetes_cpu(where + "cpu", limits["cpu"])
    memory = kubernetes_memory(where + "memory", limits["memory"])

    if replicas is not None:
        counted = "%d given" % replicas
    elif hpa.get("enabled") in (True, "true", "True"):
        if "hpa" not in gateway:
            defaults.append("hpa")
        replicas = whole_number(HELM_SECTION + ".hpa.maxReplicas", hpa.get("maxReplicas"))
        counted = "the autoscaler's maxReplicas %d (%s.hpa): every replica it may start shares the database" % (
            replicas, HELM_SECTION)
    else:
        if "replicaCount" not in gateway:
            defaults.append("replicaCount")
        replicas = whole_number(HELM_SECTION + ".replicaCount", gateway.get("replicaCount", HELM_DEFAULTS["replicaCount"]))
        counted = "replicaCount %d (the autoscaler is off)" % replicas
    surge = surge_of(replicas, KUBERNETES_DEFAULT_MAX_SURGE)
    reason = "%s, plus %d more during a rolling update (the chart's Deployment keeps Kubernetes' maxSurge of %s)" % (
        counted, surge, KUBERNETES_DEFAULT_MAX_SURGE)
    if defaults:
        reason += "; the chart's defaults (appVersion 1.0.8) for %s, which the values leave out" % ", ".join(defaults)
    return {
        "capacity": capacity_of(cpus, "Helm %scpu %s" % (where, limits["cpu"]), memory,
                                "Helm %smemory %s (%s)" % (where, limits["memory"], mib_text(memory))),
        "replicas": replicas,
        "rollout_surge": surge,
        "reason": reason,
        "limits": {"cpu": limits["cpu"], "memory": limits["memory"]},
    }


def interpolated(name, value):
    """A Compose value that may be ${VARIABLE:-default}: its default, and what was assumed."""
    match = INTERPOLATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        return value, None
    if match.group(2) is None:
        raise PlanError("%s is %s, a variable without a default: give the Compose file with the value it runs "
                        "with (docker compose config prints it)" % (name, value))
    return match.group(2), "%s unset, so its default %s" % (match.group(1), match.group(2))


def compose_target(project, service, replicas=None):
    """Capacity, replicas and rollout surge of a Compose service; replicas, when given, wins over
    the service's deploy.replicas."""
    if not isinstance(project, dict):
        raise PlanError("compose_project must be the Compose file as a mapping (for example lookup('file', "
                        "'docker-compose.yml') | from_yaml), got %s" % type(project).__name__)
    services = _section(project, "services", "compose_project")
    if service not in services:
        raise PlanError("compose_project has no service %s; its services are: %s (set compose_service)"
                        % (service, ", ".join(sorted(services)) or "none"))
    where = "services.%s.deploy" % service
    deploy = _section(services[service] or {}, "deploy", "services." + service)
    limits = _section(_section(deploy, "resources", where), "limits", where + ".resources")
    assumptions = []
    for key in ("cpus", "memory"):
        if key not in limits:
            raise PlanError("%s.resources.limits.%s is not set: without a limit the containers may use the host's "
                            "whole %s, and upstream's image starts 2 x the host's CPUs + 1 workers (issue #6494). "
                            "Set the limit they run with" % (where, key, "CPU" if key == "cpus" else "memory"))
    cpus_text, note = interpolated(where + ".resources.limits.cpus", limits["cpus"])
    assumptions += [note] if note else []
    memory_text, note = interpolated(where + ".resources.limits.memory", limits["memory"])
    assumptions += [note] if note else []
    cpus = compose_cpus(where + ".resources.limits.cpus", cpus_text)
    memory = compose_memory(where + ".resources.limits.memory", memory_text)
    if replicas is None:
        replicas_text, note = interpolated(where + ".replicas", deploy.get("replicas", 1))
        assumptions += [note] if note else []
        replicas = whole_number(where + ".replicas", replicas_text)
        counted = "deploy.replicas %d of service %s" % (replicas, service)
    else:
        counted = "%d given, for service %s" % (replicas, service)
    update = _section(deploy, "update_config", where)
    # Only a start-first update runs new containers beside the old ones.
    surge = whole_number(where + ".update_config.parallelism", update.get("parallelism", 1)) \
        if update.get("order") == "start-first" else 0
    reason = "%s, plus %d during an update (%s)" % (
        counted, surge, "update_config order start-first" if surge else "stop-first: the old ones stop first")
    if assumptions:
        reason += "; " + "; ".join(assumptions)
    return {
        "capacity": capacity_of(cpus, "Compose %s.resources.limits.cpus %s" % (where, cpus_text), memory,
                                "Compose %s.resources.limits.memory %s (%s)" % (where, memory_text, mib_text(memory))),
        "replicas": replicas,
        "rollout_surge": surge,
        "reason": reason,
    }


def gunicorn_image_environment(settings):
    """The Gunicorn settings of a plan as upstream's run-gunicorn.sh reads them (GUNICORN_*), every
    value a string; the script puts them on Gunicorn's command line, which wins over its file."""
    environment = {}
    for setting, variable in GUNICORN_ENVIRONMENT:
        value = settings[setting]
        environment[variable] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return environment


def image_environment(settings):
    """The plan as the variables upstream's image reads, every value a string (a ConfigMap's and
    Compose's environment hold text), and the settings it cannot take that way."""
    environment = gunicorn_image_environment(settings)
    taken = set(setting for setting, dummy in GUNICORN_ENVIRONMENT)
    for name in sorted(settings):
        if name.upper() == name:
            environment[name] = str(settings[name])
    not_rendered = sorted(name for name in settings if name.upper() != name and name not in taken)
    return environment, not_rendered


def helm_override(plan, target):
    """A values file for `helm upgrade -f`: the plan's environment under the chart's config, and the
    pod's memory request raised to what the plan uses (the scheduler reserves it, and the
    autoscaler's memory target is a share of it), never above the limit."""
    environment, not_rendered = image_environment(plan["settings"])
    planned = int(math.ceil(plan["totals"]["memory_mb"]))
    limit_mib = target["capacity"]["memory"]["effective_bytes"] // MIB
    override = {HELM_SECTION: {
        "config": environment,
        "resources": {"limits": dict(target["limits"]), "requests": {"memory": "%dMi" % min(planned, limit_mib)}},
    }}
    return override, not_rendered


def compose_override(plan, service):
    """A file for `docker compose -f docker-compose.yml -f override.yml`: the plan's environment on the service."""
    environment, not_rendered = image_environment(plan["settings"])
    return {"services": {service: {"environment": environment}}}, not_rendered
