#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The plan is computed on the controller by the action plugin of the same name
# (plugins/action/worker_plan.py); this file carries its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: worker_plan
short_description: Size the gateway's workers, server settings and connection pools from measured capacity
version_added: 1.0.0
description:
  - Turns what M(mcpgateway.tuning.capacity_info), M(mcpgateway.tuning.postgres_probe) and
    M(mcpgateway.tuning.redis_probe) report into the settings the tuning roles render - the
    worker count, Gunicorn or Granian settings, and the gateway's C(DB_POOL_*) and C(REDIS_*)
    variables - with the reason for each number.
  - Guarantees, for every plan it returns, that all replicas together (with the rollout surge)
    stay inside the PostgreSQL and Redis connection budgets the probes reported, and that the
    workers of a host fit in 85 % of its effective memory (75 % for the memory-constrained profile).
  - When no plan fits, for example when the database cannot give 2 connections to every worker of
    every replica, the task fails with the numbers and the fixes, unless O(allow_degraded=true),
    which lowers the workers until the plan fits and says so.
  - Runs on the controller; the managed host needs nothing. The algorithm, with its sources and a
    worked example, is in the collection's C(docs/sizing.md).
  - With O(target=helm) or O(target=compose) it plans the pods of upstream's Helm chart
    (C(charts/mcp-stack)) or the containers of a Compose service instead of a host, from the limits
    and replicas of the release's values or the Compose file, and returns the plan as an override in
    their keys (RV(override)). This only renders; nothing is deployed.
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
attributes:
  check_mode:
    support: full
    description: Computes the same plan in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
  action:
    support: full
    description: Implemented as an action plugin, run on the controller.
options:
  capacity:
    description:
      - The registered result of M(mcpgateway.tuning.capacity_info) for the gateway's unit or container.
      - Required for O(target=host); for the other targets the capacity is the limits of their file.
    type: dict
  target:
    description:
      - V(host) plans the gateway that O(capacity) measured.
      - V(helm) plans the gateway pods of upstream's chart C(charts/mcp-stack) from O(helm_values).
        Their C(mcpContextForge.resources.limits) are the capacity, and every pod that may run at
        once shares the database; that is the autoscaler's C(hpa.maxReplicas) when it is enabled, else
        C(replicaCount), plus Kubernetes' default C(maxSurge) of 25 % rounded up, as the chart's
        Deployment sets no strategy. The chart's defaults (appVersion 1.0.8) fill the keys the
        values leave out. RV(override) is a values file for C(helm upgrade -f) with the plan under
        C(mcpContextForge.config) and the pods' memory request raised to what the plan uses.
      - V(compose) plans the containers of the Compose service O(compose_service) of O(compose_project),
        from its C(deploy.resources.limits) and C(deploy.replicas) (a C(${VARIABLE:-default}) counts as its
        default, and says so), plus C(deploy.update_config.parallelism) when its order is
        C(start-first). RV(override) is a file for C(docker compose -f docker-compose.yml -f override.yml).
      - Both render for upstream's image, which reads C(GUNICORN_WORKERS), C(GUNICORN_TIMEOUT),
        C(GUNICORN_MAX_REQUESTS), C(GUNICORN_MAX_REQUESTS_JITTER) and C(GUNICORN_PRELOAD_APP) and the
        gateway's settings from its environment; the settings it cannot take that way are listed in
        RV(not_rendered). O(server) must be V(gunicorn). O(replicas) wins over the count of the file.
    type: str
    choices: [host, helm, compose]
    default: host
  helm_values:
    description:
      - For O(target=helm), the values of the release as a mapping, for example
        C(lookup('ansible.builtin.file', 'values.yaml') | from_yaml), or C({}) for the chart's defaults.
    type: dict
  compose_project:
    description:
      - For O(target=compose), the Compose file as a mapping, for example the output of
        C(docker compose config) read with C(from_yaml), where the variables have their values.
    type: dict
  compose_service:
    description: For O(target=compose), the gateway's service in O(compose_project).
    type: str
    default: gateway
  postgres:
    description:
      - The registered result of M(mcpgateway.tuning.postgres_probe), as seen from this host.
      - Leave it out only when the gateway does not use PostgreSQL (SQLite); the pools are then sized
        from demand alone. An unreachable result fails the task.
    type: dict
  redis:
    description:
      - The registered result of M(mcpgateway.tuning.redis_probe).
      - Leave it out only when the gateway does not use Redis (C(CACHE_TYPE) other than C(redis)).
    type: dict
  replicas:
    description:
      - Gateway hosts sharing this database and Redis, the fleet's size. Set it where the inventory does not hold
        the whole fleet (an AWX job slice, an inventory of part of the hosts); it wins over any count.
      - Without it, the hosts of O(fleet_group) and of the play that share this host's servers, whether or not
        they are in this run (C(--limit)) or answered. A host probed in this run is compared by O(shared_by), any
        other by O(shared_by_inventory), and counted when the inventory does not tell (its share is reserved,
        with a warning). RV(replicas_reason) names who was counted.
    type: int
  shared_by:
    description: Host variables (or facts of this run) that, when equal, make two hosts share the same budgets.
    type: list
    elements: str
    default: [mcpgateway_database_url, mcpgateway_redis_url]
  fleet_group:
    description:
      - The inventory group of the gateway hosts, counted as replicas whether or not they are in this run.
      - Without such a group in the inventory, only the hosts of the play are counted, and RV(replicas_reason)
        says so.
    type: str
    default: mcpgateway
  shared_by_inventory:
    description:
      - Inventory variables that say which servers a host uses, for the hosts of O(fleet_group) that were not
        probed in this run. Hosts whose values differ from this host's are not counted.
    type: list
    elements: str
    default: [mcpgateway_database_url, mcpgateway_redis_url]
  rollout_surge:
    description:
      - Extra replicas whose workers may be alive at the same time during a rollout or a graceful
        reload (old workers finish while new ones start). Set 0 only when every restart stops the
        old service before starting the new one.
    type: int
    default: 1
  server:
    description: The HTTP server.
    type: str
    choices: [gunicorn, granian]
    default: gunicorn
  profile:
    description:
      - V(balanced) for most deployments; V(high-throughput) keeps more connections open and recycles
        less; V(high-concurrency) for many long requests and streams (longer timeouts, bigger pools,
        two Granian I/O threads); V(memory-constrained) runs fewer workers in 75 % of memory and
        recycles them sooner; V(http1-only) (Granian) turns HTTP/2 off.
    type: str
    choices: [balanced, high-throughput, high-concurrency, memory-constrained, http1-only]
    default: balanced
  concurrency:
    description: Expected peak concurrent requests per replica; sizes the pools' demand and backlogs.
    type: int
    default: 100
  worker_memory_mb:
    description:
      - Memory in MiB that each worker adds to the service, its helper processes included.
      - To measure it, take the service's peak memory under load (the PSS summed over its processes, as
        M(mcpgateway.tuning.resource_watch) reports it) at two worker counts, and divide the difference by
        the difference in workers. A single worker's PSS is not it, since it shrinks as workers are added.
      - Without it, what the collection measured on its test machines for the server, for a worker that
        imports the application itself, 340 for Gunicorn and 370 for Granian.
    type: float
  base_memory_mb:
    description:
      - Memory in MiB of everything but the workers (the server's master, the OS's share).
      - Without it, the server's measured figure, 256 for Gunicorn, whose master imports the application,
        and 96 for Granian, whose master does not.
    type: float
  preload_shared_mb:
    description:
      - The part of O(worker_memory_mb), in MiB, that Gunicorn workers forked from a preloaded master share
        copy-on-write. With Gunicorn and C(preload_app) (the plan's default), each worker counts
        O(worker_memory_mb) minus this, and the base counts it once. Granian workers each import the
        application, so they count their whole O(worker_memory_mb).
      - Without it, 120 (measured on the collection's test machines) with the server's default
        O(worker_memory_mb), and 0 with a given O(worker_memory_mb), which holds the sharing of the service
        it was measured on already. Must be below O(worker_memory_mb).
    type: float
  current_db_connections:
    description:
      - PostgreSQL connections the running gateways that share this budget (this host's and its replicas')
        hold now, as M(mcpgateway.tuning.held_connections) counts them. The probe counts them as in use; they
        are released at the restart, so the plan adds them back to the budget.
      - Without it, the sum O(held_connections_from) gives, else 0.
    type: int
  current_redis_connections:
    description:
      - Redis connections the running gateways that share this budget hold now (see O(current_db_connections)).
      - Without it, the sum O(held_connections_from) gives, else 0.
    type: int
  held_connections_from:
    description:
      - The name of the variable in which each host of the play registered M(mcpgateway.tuning.held_connections)
        with endpoints named C(postgres) and C(redis).
      - The plan adds back what the running gateways of the replicas (the hosts counted as for O(replicas))
        hold, summed over those that registered it; O(current_db_connections) and O(current_redis_connections)
        win when given.
      - The replicas that did not register it (outside this run, as with C(--limit), or not answering) have their
        share reserved already, so what they hold is theirs, not in use by others. The plan counts it from the
        probes' lists of clients by address (C(connections_in_use.role_by_address) of
        M(mcpgateway.tuning.postgres_probe), C(clients_by_address) of M(mcpgateway.tuning.redis_probe)), at the
        addresses O(client_address_from) gives for them. A partial run then plans as the full run does.
      - An address that is also one of a replica that registered it (replicas behind one NAT, or on one machine)
        cannot be told apart, nor a server that lists no addresses; what they hold then counts as in use, which
        gives smaller pools, never larger. RV(replicas_reason) says who was counted, and how.
    type: str
  client_address_from:
    description:
      - Where the connections of a replica come from, as the servers see them, for the replicas
        O(held_connections_from) has no figure of; the first of these inventory variables the replica sets
        (an address, or a name resolved on the controller), else its inventory name.
      - Set C(mcpgateway_client_address) for a host whose connections leave by another address than the one
        Ansible reaches it at.
    type: list
    elements: str
    default: [mcpgateway_client_address, ansible_host]
    version_added: 1.1.0
  uvloop_available:
    description:
      - Whether uvloop can be imported in the gateway's environment. Without it Granian cannot start on
        C(loop=uvloop), so the plan chooses asyncio's loop and says why.
    type: bool
    default: true
  allow_degraded:
    description: When no plan fits the connection budgets, lower the workers until one does instead of failing.
    type: bool
    default: false
  overrides:
    description:
      - Settings to force, by the names of RV(settings), for example C(workers) or C(DB_POOL_SIZE).
        Each is applied, its reason says what the plan would have chosen, and the budgets are checked with
        it; an override that breaks a budget fails the task with the reason.
      - Numbers given as strings (survey answers) are converted.
    type: dict
    default: {}
notes:
  - Numbers given as strings, as AWX and Tower surveys pass them, are converted; anything else that is
    not a positive number fails with a message naming the option.
"""

EXAMPLES = r"""
- name: Measure
  mcpgateway.tuning.capacity_info:
    unit: mcpgateway.service
  register: gateway_capacity

- name: Probe the database
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
    server: granian
    profile: high-concurrency
  register: gateway_plan

- name: Show why
  ansible.builtin.debug:
    msg: "{{ gateway_plan.reasons.values() | list }}"

- name: Plan the pods of upstream's Helm chart within the database's budget
  mcpgateway.tuning.worker_plan:
    target: helm
    helm_values: "{{ lookup('ansible.builtin.file', 'values.yaml') | from_yaml }}"
    postgres: "{{ gateway_postgres }}"
    redis: "{{ gateway_redis }}"
  register: helm_plan

- name: Write the values override (helm upgrade mcp-stack ... -f values.yaml -f tuned-values.yaml)
  ansible.builtin.copy:
    content: "{{ helm_plan.override | to_nice_yaml }}"
    dest: tuned-values.yaml
    mode: "0644"
"""

RETURN = r"""
settings:
  description:
    - Every setting the roles render. C(workers); the gateway's C(DB_POOL_SIZE), C(DB_MAX_OVERFLOW),
      C(DB_POOL_TIMEOUT), C(DB_POOL_RECYCLE), C(REDIS_MAX_CONNECTIONS), C(RATELIMITER_REDIS_MAX_CONNECTIONS),
      C(REDIS_SOCKET_TIMEOUT), C(REDIS_SOCKET_CONNECT_TIMEOUT), C(REDIS_HEALTH_CHECK_INTERVAL).
    - For Gunicorn C(worker_class), C(timeout), C(graceful_timeout), C(keepalive), C(max_requests),
      C(max_requests_jitter), C(preload_app), C(backlog).
    - For Granian C(runtime_threads), C(runtime_mode), C(blocking_threads), C(backlog), C(backpressure),
      C(http), C(loop), C(task_impl), C(respawn_failed_workers), and C(workers_max_rss) when set.
  returned: success
  type: dict
  sample: {workers: 3, DB_POOL_SIZE: 8, DB_MAX_OVERFLOW: 5, REDIS_MAX_CONNECTIONS: 50, timeout: 120}
reasons:
  description: For each setting, the binding constraint and the arithmetic behind it.
  returned: success
  type: dict
  sample:
    workers: "workers = 3: memory, 85 % of 1536 MiB (cgroup v2 memory.max at /system.slice/mcpgateway.service)
      = 1306 MiB, minus 256 MiB base, at 340 MiB per worker; CPU would allow 5 (4 CPUs + 1 (a Uvicorn event loop
      per CPU and one more, to spare; gunicorn's 2 x CPUs + 1 is for sync workers))"
totals:
  description:
    - What the plan adds up to, for assertions. C(memory_mb) against C(memory_limit_mb);
      C(db_connections) (all replicas with the surge) against C(db_budget); C(redis_connections)
      against C(redis_budget); per worker and per replica figures too.
  returned: success
  type: dict
inputs:
  description: The checked inputs the plan used (numbers converted, replicas counted).
  returned: success
  type: dict
degraded:
  description: Whether O(allow_degraded) lowered the workers to fit a budget.
  returned: success
  type: bool
saturated:
  description:
    - The servers (C(PostgreSQL), C(Redis)) that refused the probe for want of a free slot while the gateways
      of this run held some of their connections (the probes' RV(mcpgateway.tuning.postgres_probe#module:saturated)).
      The plan counts what those gateways hold as what their new pools may use.
    - Restarted alone with its new pools, a replica would then wait for connections that the replicas not
      restarted with it keep, and would not get ready. The C(mcpgateway.tuning.tune) role refuses such a
      rollout before it changes anything, unless every replica in RV(replica_hosts) is restarted together.
  returned: success
  type: list
  elements: str
  sample: [PostgreSQL, Redis]
  version_added: 1.1.0
replica_hosts:
  description: The hosts counted as replicas sharing this host's servers, this host included.
  returned: success
  type: list
  elements: str
  sample: [gw1, gw2, gw3]
replicas_reason:
  description: How many replicas the plan divides the budgets among, and who was counted from where.
  returned: success
  type: str
  sample: "replicas = 3: 3 replica(s) share this host's servers, counted over inventory group mcpgateway: gw1, gw2, gw3"
override:
  description:
    - For O(target=helm), a values override for upstream's chart; for O(target=compose), a Compose
      override for O(compose_service). Every value is a string, as a ConfigMap and an environment hold them.
  returned: when O(target) is V(helm) or V(compose)
  type: dict
  sample: {mcpContextForge: {config: {GUNICORN_WORKERS: "3", DB_POOL_SIZE: "1", DB_MAX_OVERFLOW: "1"},
           resources: {limits: {cpu: "2", memory: 2Gi}, requests: {memory: 1036Mi}}}}
not_rendered:
  description: Settings of the plan that upstream's image reads only from its own C(gunicorn.config.py).
  returned: when O(target) is V(helm) or V(compose)
  type: list
  elements: str
  sample: [backlog, graceful_timeout, keepalive, worker_class]
plan_warnings:
  description:
    - What the operator should know, such as a degraded plan or a connection count that calls for PgBouncer.
    - Also shown as task warnings.
  returned: success
  type: list
  elements: str
"""
