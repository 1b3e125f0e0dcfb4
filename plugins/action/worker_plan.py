# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcpgateway.tuning.worker_plan: the sizing plan, computed on the controller.

Wires the play to plugins/plugin_utils/sizing.py: checks the arguments, finds the replicas
that share this host's database and Redis and what their running gateways hold, and returns the
plan or a clear failure.
"""

from __future__ import annotations

import socket

from ansible.plugins.action import ActionBase

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.fleet import count_replicas, held_by_address
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.orchestrators import (
    compose_override,
    compose_target,
    helm_override,
    helm_target,
)
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing import (
    counted_on_their_hosts,
    held_by,
    make_plan,
)
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import (
    DEFAULTS,
    PROFILES,
    SERVERS,
    PlanError,
)

# Options of this action that are not the planner's: the fleet's and the orchestrator targets'.
NOT_PLANNER_OPTIONS = ("shared_by", "held_connections_from", "client_address_from", "fleet_group",
                       "shared_by_inventory", "target", "helm_values", "compose_project", "compose_service")


def planner_request(args):
    return dict((name, value) for name, value in args.items() if name not in NOT_PLANNER_OPTIONS)


ARGUMENT_SPEC = dict(
    capacity=dict(type="dict"),
    # host: the plan for this host; helm or compose: for the pods or containers of upstream's chart or
    # Compose file, whose limits and replicas come from it, rendered as an override (render only).
    target=dict(type="str", choices=["host", "helm", "compose"], default="host"),
    helm_values=dict(type="dict"),
    compose_project=dict(type="dict"),
    compose_service=dict(type="str", default="gateway"),
    postgres=dict(type="dict"),
    redis=dict(type="dict"),
    replicas=dict(type="int"),
    shared_by=dict(type="list", elements="str", default=["mcpgateway_database_url", "mcpgateway_redis_url"]),
    # The fleet's inventory group: its hosts are counted whether or not they are in this run.
    fleet_group=dict(type="str", default="mcpgateway"),
    shared_by_inventory=dict(type="list", elements="str",
                             default=["mcpgateway_database_url", "mcpgateway_redis_url"]),
    rollout_surge=dict(type="int", default=DEFAULTS["rollout_surge"]),
    server=dict(type="str", choices=list(SERVERS), default=DEFAULTS["server"]),
    profile=dict(type="str", choices=list(PROFILES), default=DEFAULTS["profile"]),
    concurrency=dict(type="int", default=DEFAULTS["concurrency"]),
    # Without them, the server's own measured figures (sizing_inputs.SERVER_MEMORY_MB).
    worker_memory_mb=dict(type="float"),
    base_memory_mb=dict(type="float"),
    preload_shared_mb=dict(type="float"),
    # Without them, what the replicas registered under held_connections_from hold, else none.
    current_db_connections=dict(type="int"),
    current_redis_connections=dict(type="int"),
    held_connections_from=dict(type="str"),
    # Where a replica's connections come from, as the servers see them: the first of these inventory
    # variables it sets, else its inventory name.
    client_address_from=dict(type="list", elements="str", default=["mcpgateway_client_address", "ansible_host"]),
    allow_degraded=dict(type="bool", default=DEFAULTS["allow_degraded"]),
    uvloop_available=dict(type="bool", default=DEFAULTS["uvloop_available"]),
    overrides=dict(type="dict", default={}),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["target"] != "host":
            return self.plan_for_orchestrator(result, args)
        if args["capacity"] is None:
            result.update(failed=True, msg="capacity is required for target=host: register the result of "
                                           "mcpgateway.tuning.capacity_info for the gateway and pass it")
            return result
        request = planner_request(args)
        host = task_vars.get("inventory_hostname")
        hostvars = task_vars.get("hostvars", {})
        fleet = count_replicas(host, task_vars.get("ansible_play_hosts_all") or [host],
                               (task_vars.get("groups") or {}).get(args["fleet_group"]), hostvars, args["shared_by"],
                               args["shared_by_inventory"], args["fleet_group"])
        replica_hosts = fleet["hosts"]
        fleet_warnings = []
        if request["replicas"] is None:
            request["replicas"] = len(replica_hosts)
            fleet_warnings = fleet["warnings"]
            replicas_reason = "replicas = %d: %s" % (len(replica_hosts), fleet["reason"])
            if task_vars.get("awx_job_id") is not None or task_vars.get("tower_job_id") is not None:
                # A sliced AWX job's inventory holds its slice only.
                fleet_warnings.append("replicas were counted from the inventory of an AWX job, which a sliced job "
                                      "holds only part of: do not slice the tune job template, or set replicas")
        else:
            replicas_reason = "replicas = %d: given (%s)" % (request["replicas"], fleet["reason"])
        if args["held_connections_from"]:
            replicas_reason += self.count_held(request, args, replica_hosts, hostvars)
        try:
            plan = make_plan(request)
        except PlanError as error:
            result.update(failed=True, msg=str(error))
            return result
        # Ansible displays a result's 'warnings' and drops them from the registered value, so they
        # are returned as data under their own name too.
        advice = fleet_warnings + plan.pop("warnings")
        result.update(changed=False, plan_warnings=advice, replica_hosts=replica_hosts, replicas_reason=replicas_reason,
                      **plan)
        if advice:
            result["warnings"] = advice
        return result

    @staticmethod
    def count_held(request, args, replica_hosts, hostvars):
        """Add to the request what the replicas' gateways hold now, which their new pools take over: as
        the replicas in this run counted it on their hosts, and, for the others (outside the run, or
        not answering), as the servers list their clients by address. Returns what the reason adds."""
        held_var = args["held_connections_from"]
        counted = counted_on_their_hosts(replica_hosts, hostvars, held_var)
        held = dict(zip(("postgres", "redis"), held_by(replica_hosts, hostvars, held_var)))
        listed = {"postgres": ((args["postgres"] or {}).get("connections_in_use") or {}).get("role_by_address"),
                  "redis": (args["redis"] or {}).get("clients_by_address")}
        added = []
        for server, option, what in (("postgres", "current_db_connections", "PostgreSQL sessions"),
                                     ("redis", "current_redis_connections", "Redis connections")):
            if request[option] is not None or args[server] is None:
                continue
            found = held_by_address(replica_hosts, counted, hostvars, args["client_address_from"], listed[server],
                                    resolve_addresses)
            request[option] = held[server] + found["connections"]
            if found["hosts"] or found["notes"]:
                added.append("%d %s of %s, by address (%s)%s" % (
                    found["connections"], what, ", ".join(found["hosts"]) or "none",
                    ", ".join("%s: %s" % (host, " ".join(addresses)) for host, addresses in found["hosts"].items()),
                    "".join("; %s" % note for note in found["notes"])))
        if not added:
            return ""
        return "; held now by replicas not counted on their hosts, theirs and not in use: %s" % "; ".join(added)

    @staticmethod
    def plan_for_orchestrator(result, args):
        """The plan for the pods of upstream's Helm chart or the containers of a Compose service: their
        limits are the capacity, the replicas that may run at once are counted from the same file (or
        given), and the plan comes back as an override in that file's keys."""
        target = args["target"]
        source = {"helm": "helm_values", "compose": "compose_project"}[target]
        if args[source] is None:
            result.update(failed=True, msg="target=%s needs %s: the %s as a mapping" % (
                target, source, "release's Helm values" if target == "helm" else "Compose file"))
            return result
        if args["server"] != "gunicorn":
            result.update(failed=True, msg="target=%s renders for upstream's image, which runs Gunicorn only (its "
                                           "Granian script was removed after 1.0.6): use server=gunicorn" % target)
            return result
        request = planner_request(args)
        try:
            found = helm_target(args["helm_values"], args["replicas"]) if target == "helm" else compose_target(
                args["compose_project"], args["compose_service"], args["replicas"])
            request.update(capacity=found["capacity"], replicas=found["replicas"], rollout_surge=found["rollout_surge"])
            replicas_reason = "replicas = %d: %s" % (found["replicas"], found["reason"])
            plan = make_plan(request)
            override, not_rendered = helm_override(plan, found) if target == "helm" else compose_override(
                plan, args["compose_service"])
        except PlanError as error:
            result.update(failed=True, msg=str(error))
            return result
        advice = plan.pop("warnings")
        if not_rendered:
            advice.append("not rendered: %s; upstream's image reads them only from its own gunicorn.config.py"
                          % ", ".join(not_rendered))
        result.update(changed=False, plan_warnings=advice, replica_hosts=[], replicas_reason=replicas_reason,
                      override=override, not_rendered=not_rendered, **plan)
        if advice:
            result["warnings"] = advice
        return result


def resolve_addresses(name):
    """The addresses name resolves to on the controller (an address resolves to itself)."""
    return set(entry[4][0] for entry in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP))
