# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workers, server settings and per-worker pools for the MCP gateway, with the reason for each.

Pure functions: ``make_plan`` takes what capacity_info, postgres_probe and redis_probe
report plus the operator's choices, and returns settings that keep every replica inside
the PostgreSQL and Redis connection budgets and every host inside its memory. The
algorithm and its sources are in docs/sizing.md; the inputs and their checks are in
sizing_inputs.py.
"""

from __future__ import annotations

import math

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import (
    MIN_REDIS_POOL_SIZE,
    PlanError,
    normalize,
)

# Upstream's auto rule caps workers at 16 (run-gunicorn.sh); more processes on one host only
# multiply memory and connections.
MAX_WORKERS = 16
# A pool of one connection serialises a worker; the planner refuses to go below two.
MIN_DB_CONNECTIONS_PER_WORKER = 2
# The gateway's per-worker Redis pools sized by REDIS_MAX_CONNECTIONS (docs/sizing.md): the async
# client, the sync client of auth, and the rate limiter's client (RATELIMITER_REDIS_MAX_CONNECTIONS,
# which the plan sets to the same value).
REDIS_SIZED_POOLS_PER_WORKER = 3
# Small clients each worker opens besides those pools: leader election, token blocklist, cache
# invalidation pub/sub and the token-exchange cache in normal use.
REDIS_FIXED_CONNECTIONS_PER_WORKER = 4

# The balanced profile, and what each other profile changes. Figures are discussed in docs/sizing.md.
BALANCED = {
    "memory_fraction": 0.85, "db_demand_factor": 1.0, "db_pool_share": 0.6, "db_max_per_worker": 40,
    "db_pool_timeout": 15, "redis_demand_factor": 1.5, "redis_max_pool": 50,
    "timeout": 120, "graceful_timeout": 30, "keepalive": 5, "max_requests": 100000,
    "runtime_threads": 1, "http": "auto", "workers_max_rss": None,
}
PROFILE_TABLE = {
    "balanced": BALANCED,
    "high-throughput": dict(BALANCED, db_pool_share=0.8, db_pool_timeout=10, timeout=60, keepalive=15,
                            max_requests=200000),
    "high-concurrency": dict(BALANCED, db_demand_factor=1.5, db_pool_share=0.5, db_max_per_worker=60,
                             db_pool_timeout=30, redis_demand_factor=2.0, redis_max_pool=100, timeout=300,
                             graceful_timeout=120, keepalive=75, runtime_threads=2),
    "memory-constrained": dict(BALANCED, memory_fraction=0.75, db_pool_share=0.5, db_max_per_worker=20,
                               redis_max_pool=25, max_requests=20000, workers_max_rss=1.5),
    "http1-only": dict(BALANCED, http="1"),
}


# ----------------------------------------------------------------------------- decisions


class Decisions:
    """The settings of a plan and the reason for each; an override replaces the planned value
    and its reason says what the plan would have chosen and why."""

    def __init__(self, overrides):
        self.overrides = overrides
        self.settings = {}
        self.reasons = {}

    def decide(self, name, planned, why):
        value = self.overrides.get(name, planned)
        if name in self.overrides and value != planned:
            self.reasons[name] = "%s = %s: overridden; the plan would choose %s: %s" % (
                name, shown(value), shown(planned), why)
        else:
            self.reasons[name] = "%s = %s: %s" % (name, shown(value), why)
        self.settings[name] = value
        return value


def shown(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "%g" % value
    return str(value)


# ------------------------------------------------------------------------------- workers


def cpu_workers(inputs):
    """Workers the CPU supports, and the rule that gave them. Both servers run the application's
    async code in one event loop per worker, so one worker keeps one CPU busy; gunicorn's
    2 x CPUs + 1 is for sync workers. On the test machines (docs/sizing.md) 2 to 5 workers on
    2 CPUs served the same and the p99 grew with the workers, while a 1.5-CPU quota served 40 %
    more with 2 workers than with 1: so workers cover every CPU, fractions included, and at most
    one more."""
    cpu_int, cpu_ceil = inputs["cpu_int"], inputs["cpu_ceil"]
    whole = cpu_int == cpu_ceil
    every_cpu = "%d CPUs" % cpu_int if whole else "%g CPUs rounded up" % inputs["cpus"]
    if inputs["profile"] == "memory-constrained":
        count, rule = cpu_ceil, "%s (memory-constrained: one worker per CPU)" % every_cpu
    elif inputs["server"] == "gunicorn":
        cpus = "%d CPUs" % cpu_int if whole else "%g CPUs: %d whole" % (inputs["cpus"], cpu_int)
        count, rule = cpu_int + 1, ("%s + 1 (a Uvicorn event loop per CPU and one more, %s; gunicorn's 2 x CPUs + 1 "
                                    "is for sync workers)" % (cpus, "to spare" if whole else "for the fraction"))
    else:
        count, rule = cpu_ceil, "%s (one worker per CPU: Granian's rule and upstream's auto)" % every_cpu
    if inputs["cpu_quota_binds"]:
        rule += "; the CPUs are a CFS quota's (%s)" % inputs["cpu_binding"]
    if count > MAX_WORKERS:
        return MAX_WORKERS, "%s = %d, capped at %d" % (rule, count, MAX_WORKERS)
    return count, rule


def memory_model(inputs):
    """(MiB per worker, MiB besides the workers, how): Gunicorn workers forked from a preloaded
    master share part of their memory copy-on-write, so that part is counted once, in the base."""
    shares = inputs["server"] == "gunicorn" and inputs["overrides"].get("preload_app", True)
    if not shares or not inputs["preload_shared_mb"]:
        how = " (as given: the measured growth per worker, sharing included)" if inputs["worker_memory_given"] else ""
        return inputs["worker_memory_mb"], inputs["base_memory_mb"], how
    shared = inputs["preload_shared_mb"]
    return (inputs["worker_memory_mb"] - shared, inputs["base_memory_mb"] + shared,
            " (preloaded: %.0f MiB of each worker's %.0f shared once)" % (shared, inputs["worker_memory_mb"]))


def memory_workers(inputs, fraction):
    per_worker, base = memory_model(inputs)[:2]
    usable = fraction * inputs["memory_mib"] - base
    return int(math.floor(usable / per_worker)) if usable > 0 else 0


def memory_text(inputs, fraction):
    source = inputs["memory_binding"] if inputs["memory_binding"] != "none" else "host memory"
    per_worker, base, how = memory_model(inputs)
    return ("%d %% of %.0f MiB (%s) = %.0f MiB, minus %.0f MiB base, at %.0f MiB per worker%s"
            % (round(fraction * 100), inputs["memory_mib"], source, fraction * inputs["memory_mib"],
               base, per_worker, how))


# ----------------------------------------------------------------------------- budgets


def db_budget(inputs):
    """Connections all replicas may hold: what the probe saw free, plus what the gateway holds
    now (released at restart), minus headroom for admin sessions, migrations and monitoring.
    Returns (budget, headroom)."""
    raw = inputs["db_available"] + inputs["current_db_connections"]
    headroom = max(5, int(math.ceil(0.10 * raw)))
    return max(0, raw - headroom), headroom


def redis_budget(inputs):
    raw = inputs["redis_available"] + inputs["current_redis_connections"]
    headroom = max(8, int(math.ceil(0.05 * raw)))
    return max(0, raw - headroom), headroom


def redis_per_worker(pool_size, limiter_pool_size=None):
    """Redis connections one worker may open with these pool caps."""
    limiter = pool_size if limiter_pool_size is None else limiter_pool_size
    return (REDIS_SIZED_POOLS_PER_WORKER - 1) * pool_size + limiter + REDIS_FIXED_CONNECTIONS_PER_WORKER


def connection_limits(inputs, replicas_total):
    """For each server with a budget: (name, workers it fits, per-worker minimum, arithmetic, fixes)."""
    limits = []
    if inputs["db_available"] is not None:
        budget, headroom = db_budget(inputs)
        per_replica = budget // replicas_total
        limits.append(("PostgreSQL", per_replica // MIN_DB_CONNECTIONS_PER_WORKER, MIN_DB_CONNECTIONS_PER_WORKER,
                       "%d connections (%d seen free + %d held by the gateway - %d headroom) / %d replicas "
                       "(%d + %d during a rollout) = %d per replica"
                       % (budget, inputs["db_available"], inputs["current_db_connections"], headroom,
                          replicas_total, inputs["replicas"], inputs["rollout_surge"], per_replica),
                       "raise max_connections (or the role's CONNECTION LIMIT), put PgBouncer in front, "
                       "or run fewer replicas"))
    if inputs["redis_available"] is not None:
        budget, headroom = redis_budget(inputs)
        per_replica = budget // replicas_total
        minimum = redis_per_worker(MIN_REDIS_POOL_SIZE)
        limits.append(("Redis", per_replica // minimum, minimum,
                       "%d clients (%d seen free + %d held by the gateway - %d headroom) / %d replicas = %d per "
                       "replica" % (budget, inputs["redis_available"], inputs["current_redis_connections"],
                                    headroom, replicas_total, per_replica),
                       "raise maxclients (and the ulimit -n of redis-server), or run fewer replicas"))
    return limits


# ------------------------------------------------------------------------------- the plan


def make_plan(request):
    """The plan for one gateway host: settings, a reason for each, totals and warnings.

    Raises PlanError for invalid inputs, or when no plan fits (unless allow_degraded can
    lower the workers until one does).
    """
    inputs = normalize(request)
    table = PROFILE_TABLE[inputs["profile"]]
    fraction = table["memory_fraction"]
    replicas_total = inputs["replicas"] + inputs["rollout_surge"]
    plan = Decisions(inputs["overrides"])
    warnings = list(inputs["saturation_warnings"])

    workers, degraded = plan_workers(inputs, fraction, replicas_total, plan, warnings)
    concurrency_per_worker = int(math.ceil(inputs["concurrency"] / float(workers)))
    plan_database_pool(inputs, table, replicas_total, workers, concurrency_per_worker, plan, warnings)
    plan_redis(inputs, table, replicas_total, workers, concurrency_per_worker, plan)
    if inputs["server"] == "gunicorn":
        plan_gunicorn(inputs, table, plan)
    else:
        plan_granian(inputs, table, workers, concurrency_per_worker, plan)

    totals = plan_totals(inputs, fraction, replicas_total, plan.settings)
    check_invariants(totals)
    return {
        "settings": plan.settings,
        "reasons": plan.reasons,
        "totals": totals,
        "inputs": public_inputs(inputs, replicas_total),
        "degraded": degraded,
        # The servers full of the gateways' own connections: restarted alone, a replica would wait for
        # the connections the others keep, so the replicas sharing them restart together.
        "saturated": list(inputs["saturated"]),
        "warnings": warnings,
    }


def plan_workers(inputs, fraction, replicas_total, plan, warnings):
    """Workers from CPU and memory, then checked against the connection budgets."""
    w_cpu, cpu_rule = cpu_workers(inputs)
    w_mem = memory_workers(inputs, fraction)
    overridden = "workers" in inputs["overrides"]
    if overridden:
        workers = inputs["overrides"]["workers"]
        if workers > w_mem:
            raise PlanError("overrides.workers=%d breaks the memory budget: %s allows %d worker(s). Give the host "
                            "more memory, measure worker_memory_mb, or override fewer workers"
                            % (workers, memory_text(inputs, fraction), w_mem))
        planned, why = min(w_cpu, w_mem), "CPU allows %d (%s), memory %d" % (w_cpu, cpu_rule, w_mem)
    elif w_mem < 1:
        raise PlanError("memory holds no gateway worker: %s. Give the gateway more memory (MemoryMax= or the VM), "
                        "or lower worker_memory_mb if you measured less" % memory_text(inputs, fraction))
    elif w_mem < w_cpu:
        workers = planned = w_mem
        why = "memory, %s; CPU would allow %d (%s)" % (memory_text(inputs, fraction), w_cpu, cpu_rule)
    else:
        workers = planned = w_cpu
        why = "CPU, %s; memory would allow %d" % (cpu_rule, w_mem)

    degraded = False
    for service, fits, minimum, arithmetic, fixes in connection_limits(inputs, replicas_total):
        if workers <= fits:
            continue
        problem = ("%s cannot give %d connections to each of %d workers of %d replicas: %s, enough for %d "
                   "worker(s)" % (service, minimum, workers, replicas_total, arithmetic, fits))
        if overridden:
            raise PlanError("overrides.workers=%d does not fit: %s. Override fewer workers, or %s"
                            % (workers, problem, fixes))
        if fits < 1:
            raise PlanError("no plan fits: %s. Fix: %s" % (problem, fixes))
        if not inputs["allow_degraded"]:
            raise PlanError("no plan fits: %s. Fix: %s; or set allow_degraded: true to run %d worker(s)"
                            % (problem, fixes, fits))
        warnings.append("degraded: %s; workers lowered from %d to %d" % (problem, workers, fits))
        why = "degraded to fit %s (%s); before that: %s" % (service, arithmetic, why)
        workers = planned = fits
        degraded = True
    plan.decide("workers", planned, why)
    return workers, degraded


def plan_database_pool(inputs, table, replicas_total, workers, concurrency_per_worker, plan, warnings):
    demand = int(math.ceil(concurrency_per_worker * table["db_demand_factor"])) + 1
    demand_text = "demand %d concurrent requests per worker x %g + 1 for background work = %d" % (
        concurrency_per_worker, table["db_demand_factor"], demand)
    cap = table["db_max_per_worker"]
    if inputs["db_available"] is None:
        per_worker = max(MIN_DB_CONNECTIONS_PER_WORKER, min(demand, cap))
        basis = "no PostgreSQL budget given (SQLite, or postgres left out): %s, profile cap %d" % (demand_text, cap)
    else:
        budget, headroom = db_budget(inputs)
        allowed = budget // replicas_total // workers
        per_worker = max(MIN_DB_CONNECTIONS_PER_WORKER, min(demand, allowed, cap))
        basis = ("budget %d (%d free + %d held by the gateway - %d headroom) / %d replicas / %d workers = %d per "
                 "worker; %s; profile cap %d" % (budget, inputs["db_available"], inputs["current_db_connections"],
                                                 headroom, replicas_total, workers, allowed, demand_text, cap))
    planned_pool = max(1, int(round(per_worker * table["db_pool_share"])))
    pool = plan.decide("DB_POOL_SIZE", planned_pool, "%g %% kept open of %d per worker (%s)" % (
        table["db_pool_share"] * 100, per_worker, basis))
    overflow = plan.decide("DB_MAX_OVERFLOW", per_worker - planned_pool,
                           "the rest of %d per worker, opened only under load" % per_worker)
    if pool + overflow < MIN_DB_CONNECTIONS_PER_WORKER:
        raise PlanError("overrides.%s leave %d connection per worker (DB_POOL_SIZE %d + DB_MAX_OVERFLOW %d): a worker "
                        "needs at least %d, or its requests queue behind each other"
                        % ("DB_POOL_SIZE=%d" % pool if "DB_POOL_SIZE" in inputs["overrides"] else
                           "DB_MAX_OVERFLOW=%d" % overflow, pool + overflow, pool, overflow,
                           MIN_DB_CONNECTIONS_PER_WORKER))
    if inputs["db_available"] is not None:
        budget = db_budget(inputs)[0]
        total = replicas_total * workers * (pool + overflow)
        if total > budget:
            names = " and ".join("overrides.%s=%d" % (name, inputs["overrides"][name])
                                 for name in ("DB_POOL_SIZE", "DB_MAX_OVERFLOW") if name in inputs["overrides"])
            raise PlanError("%s break the PostgreSQL budget: %d replicas x %d workers x (%d + %d) = %d connections "
                            "> %d available. Lower them, or raise max_connections"
                            % (names, replicas_total, workers, pool, overflow, total, budget))
        if replicas_total * workers * pool > 100:
            warnings.append("%d replicas x %d workers keep %d PostgreSQL connections open: beyond about 100 "
                            "active connections PostgreSQL slows down; consider PgBouncer in transaction mode"
                            % (replicas_total, workers, replicas_total * workers * pool))
    plan.decide("DB_POOL_TIMEOUT", table["db_pool_timeout"],
                "seconds a request waits for a pooled connection before it fails, instead of piling up "
                "(%s profile; upstream waits 30)" % inputs["profile"])
    plan.decide("DB_POOL_RECYCLE", 1800, "seconds before a connection is replaced: below the one-hour idle "
                "cut-off of common firewalls and PgBouncer's server_lifetime (upstream: 3600)")


def plan_redis(inputs, table, replicas_total, workers, concurrency_per_worker, plan):
    demand = max(MIN_REDIS_POOL_SIZE, int(math.ceil(concurrency_per_worker * table["redis_demand_factor"])))
    demand_text = "demand %d concurrent requests per worker x %g (upstream's rule) = %d" % (
        concurrency_per_worker, table["redis_demand_factor"], demand)
    cap = table["redis_max_pool"]
    if inputs["redis_available"] is None:
        size = min(demand, cap)
        basis = "no Redis budget given: %s, profile cap %d" % (demand_text, cap)
    else:
        budget, headroom = redis_budget(inputs)
        per_worker = budget // replicas_total // workers
        allowed = (per_worker - REDIS_FIXED_CONNECTIONS_PER_WORKER) // REDIS_SIZED_POOLS_PER_WORKER
        size = max(MIN_REDIS_POOL_SIZE, min(demand, allowed, cap))
        basis = ("budget %d (%d free + %d held by the gateway - %d headroom) / %d replicas / %d workers = %d per "
                 "worker, less %d fixed clients, over %d pools = %d; %s; profile cap %d"
                 % (budget, inputs["redis_available"], inputs["current_redis_connections"], headroom,
                    replicas_total, workers, per_worker, REDIS_FIXED_CONNECTIONS_PER_WORKER,
                    REDIS_SIZED_POOLS_PER_WORKER, allowed, demand_text, cap))
    main = plan.decide("REDIS_MAX_CONNECTIONS", size, "cap of each of the async and the sync (auth) pool of a "
                       "worker: %s" % basis)
    limiter = plan.decide("RATELIMITER_REDIS_MAX_CONNECTIONS", size,
                          "the rate limiter's pool, the third sized pool of each worker, same share")
    if inputs["redis_available"] is not None:
        budget = redis_budget(inputs)[0]
        per_worker_total = redis_per_worker(main, limiter)
        total = replicas_total * workers * per_worker_total
        if total > budget:
            names = " and ".join("overrides.%s=%d" % (name, inputs["overrides"][name])
                                 for name in ("REDIS_MAX_CONNECTIONS", "RATELIMITER_REDIS_MAX_CONNECTIONS")
                                 if name in inputs["overrides"])
            raise PlanError("%s break the Redis budget: %d replicas x %d workers x %d connections = %d > %d "
                            "available. Lower them, or raise maxclients"
                            % (names, replicas_total, workers, per_worker_total, total, budget))

    if inputs["redis_p99_ms"] is None:
        timeout, why = 2.0, "seconds, upstream's default; no probe latency given"
    else:
        timeout = max(2.0, min(10.0, round(20 * inputs["redis_p99_ms"] / 1000.0, 1)))
        why = "seconds: at least 20 x the probe's PING p99 of %.2f ms, between upstream's 2 and 10" % (
            inputs["redis_p99_ms"])
    plan.decide("REDIS_SOCKET_TIMEOUT", timeout, why)
    plan.decide("REDIS_SOCKET_CONNECT_TIMEOUT", timeout, "seconds, as the socket timeout")
    plan.decide("REDIS_HEALTH_CHECK_INTERVAL", 30, "seconds: a pooled connection idle that long is pinged before "
                "use, so a restarted Redis costs no request")


def plan_gunicorn(inputs, table, plan):
    profile = inputs["profile"]
    plan.decide("worker_class", "uvicorn_worker.UvicornWorker", "the maintained successor of "
                "uvicorn.workers.UvicornWorker, deprecated since uvicorn 0.30")
    plan.decide("timeout", table["timeout"], "seconds a worker whose event loop is stuck may live before it is "
                "restarted (%s profile; upstream uses 600)" % profile)
    plan.decide("graceful_timeout", table["graceful_timeout"], "seconds in-flight requests%s get to finish at a "
                "restart" % (" and streams" if profile == "high-concurrency" else ""))
    plan.decide("keepalive", table["keepalive"], "seconds an idle keep-alive connection is held (%s profile)"
                % profile)
    max_requests = plan.decide("max_requests", table["max_requests"], "requests before a worker is recycled, "
                               "bounding slow leaks%s" % (" sooner on a tight memory budget"
                                                          if profile == "memory-constrained" else ""))
    plan.decide("max_requests_jitter", max_requests // 10, "10 % of max_requests, so workers do not recycle "
                "together (upstream's 100 is 0.1 %)")
    plan.decide("preload_app", True, "workers share the imported application copy-on-write; the rendered post_fork "
                "hook disposes the database engine and resets Redis in each worker")
    plan.decide("backlog", max(2048, 2 * inputs["concurrency"]), "at least gunicorn's 2048 and twice the expected "
                "%d concurrent requests (the kernel's somaxconn may cap it)" % inputs["concurrency"])


def plan_granian(inputs, table, workers, concurrency_per_worker, plan):
    threads = plan.decide("runtime_threads", table["runtime_threads"], "Granian's default: one Rust I/O thread "
                          "per worker keeps up with one Python event loop" if table["runtime_threads"] == 1 else
                          "many concurrent streams keep more sockets busy than one I/O thread serves")
    plan.decide("runtime_mode", "st" if threads == 1 else "mt", "single-threaded runtimes for one runtime thread"
                if threads == 1 else "one multi-threaded runtime for several threads")
    plan.decide("blocking_threads", 1, "fixed at 1 for ASGI applications")
    backlog = plan.decide("backlog", max(1024, 2 * inputs["concurrency"]), "at least Granian's 1024 and twice the "
                          "expected %d concurrent requests" % inputs["concurrency"])
    plan.decide("backpressure", max(backlog // workers, int(math.ceil(concurrency_per_worker * 1.2))),
                "Granian's backlog / workers (%d), and at least 1.2 x %d connections per worker, since it counts "
                "open connections, SSE streams included" % (backlog // workers, concurrency_per_worker))
    plan.decide("http", table["http"], "HTTP/1.1 only, for proxies and clients that do not speak HTTP/2"
                if table["http"] == "1" else "HTTP/1.1 and HTTP/2 as the client asks")
    if inputs["uvloop_available"]:
        plan.decide("loop", "uvloop", "faster than asyncio's own loop, and installed in the gateway's environment")
    else:
        plan.decide("loop", "asyncio", "uvloop is not installed in the gateway's environment, and Granian cannot "
                    "start on a loop it cannot import; asyncio's own loop is slower: install uvloop to use it")
    plan.decide("task_impl", "asyncio", "Granian's Rust task implementation needs Python < 3.12, the gateway 3.12+")
    plan.decide("respawn_failed_workers", True, "a crashed worker is replaced, not lost")
    if table["workers_max_rss"] or "workers_max_rss" in inputs["overrides"]:
        limit = int(math.ceil((table["workers_max_rss"] or 2) * inputs["worker_memory_mb"]))
        plan.decide("workers_max_rss", limit, "MiB: %g x %.0f MiB per worker; a worker beyond it is respawned"
                    % (table["workers_max_rss"] or 2, inputs["worker_memory_mb"]))


def plan_totals(inputs, fraction, replicas_total, settings):
    workers = settings["workers"]
    db_per_worker = settings["DB_POOL_SIZE"] + settings["DB_MAX_OVERFLOW"]
    redis_worker = redis_per_worker(settings["REDIS_MAX_CONNECTIONS"], settings["RATELIMITER_REDIS_MAX_CONNECTIONS"])
    return {
        "replicas": inputs["replicas"],
        "replicas_with_surge": replicas_total,
        "memory_mb": round(workers * memory_model(inputs)[0] + memory_model(inputs)[1], 1),
        "memory_limit_mb": round(fraction * inputs["memory_mib"], 1),
        "db_connections_per_worker": db_per_worker,
        "db_connections_per_replica": workers * db_per_worker,
        "db_connections": replicas_total * workers * db_per_worker,
        "db_budget": db_budget(inputs)[0] if inputs["db_available"] is not None else None,
        "redis_connections_per_worker": redis_worker,
        "redis_connections_per_replica": workers * redis_worker,
        "redis_connections": replicas_total * workers * redis_worker,
        "redis_budget": redis_budget(inputs)[0] if inputs["redis_available"] is not None else None,
    }


def check_invariants(totals):
    """The guarantees of every plan; a failure here is a bug in the planner, not in the inputs."""
    if totals["memory_mb"] > totals["memory_limit_mb"]:
        raise PlanError("internal error: %s MiB planned over the %s MiB limit"
                        % (totals["memory_mb"], totals["memory_limit_mb"]))
    if totals["db_budget"] is not None and totals["db_connections"] > totals["db_budget"]:
        raise PlanError("internal error: %d PostgreSQL connections planned over the budget of %d"
                        % (totals["db_connections"], totals["db_budget"]))
    if totals["redis_budget"] is not None and totals["redis_connections"] > totals["redis_budget"]:
        raise PlanError("internal error: %d Redis connections planned over the budget of %d"
                        % (totals["redis_connections"], totals["redis_budget"]))


def public_inputs(inputs, replicas_total):
    shown_inputs = dict(inputs)
    shown_inputs["memory_mib"] = round(inputs["memory_mib"], 1)
    shown_inputs["replicas_with_surge"] = replicas_total
    shown_inputs["overrides"] = dict(inputs["overrides"])
    return shown_inputs


def counted_on_their_hosts(hosts, hostvars, held_var):
    """The hosts that registered what their gateway holds (mcpgateway.tuning.held_connections) under
    held_var: not a host outside the run, nor one that failed or skipped it."""
    return [host for host in hosts if isinstance(hostvars.get(host, {}).get(held_var), dict)
            and not hostvars[host][held_var].get("skipped") and not hostvars[host][held_var].get("failed")]


def held_by(hosts, hostvars, held_var):
    """(PostgreSQL, Redis) connections the running gateways of these hosts hold now, as each host
    registered mcpgateway.tuning.held_connections under held_var with endpoints named postgres and
    redis. They are released when those gateways restart with their plans, so the budgets the
    probes saw grow by as much. A host that registered nothing (or was skipped) and a unix socket
    (counted as null) add nothing."""
    postgres = redis = 0
    for host in counted_on_their_hosts(hosts, hostvars, held_var):
        connections = hostvars[host][held_var].get("connections") or {}
        postgres += int(connections.get("postgres") or 0)
        redis += int(connections.get("redis") or 0)
    return postgres, redis
