# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the planner (sizing.py) accepts, and the checks that turn a raw request into its inputs.

A request comes from a play: registered results of capacity_info and the probes, and operator
choices that may be survey strings. ``normalize`` returns typed, checked inputs, or raises
PlanError with a message that names the input and the fix.
"""

from __future__ import annotations

import math
import re

MIB = 1024 * 1024

SERVERS = ("gunicorn", "granian")
PROFILES = ("balanced", "high-throughput", "high-concurrency", "memory-constrained", "http1-only")

# The smallest REDIS_MAX_CONNECTIONS a worker of gateway 1.1.0 starts and serves with, and one to spare.
# Its async pool lends 4 connections for good to its listeners (pub/sub of the session registry, the
# registry cache, cancellations, events) from startup: with a pool of 2 to 4 the application's startup
# never finished ("Too many connections"), from 5 up it served hey -c 20 without a failure
# (benchmarks/redis_pool.py, docs/performance.md). Two connections beside the listeners, as for PostgreSQL.
MIN_REDIS_POOL_SIZE = 6

DEFAULTS = {
    "server": "gunicorn",
    "profile": "balanced",
    "concurrency": 100,
    "rollout_surge": 1,
    "current_db_connections": 0,
    "current_redis_connections": 0,
    "allow_degraded": False,
    "uvloop_available": True,
}
# Memory per worker and besides the workers (MiB) where the request does not give them, by server.
# Gunicorn: a worker's PSS with its 4 helper processes; the base holds the master, which imports the
# application. Granian's master does not load the application, so its base is small: the suite's
# anonymous memory on the test machines (benchmarks/README.md) was 425 and 764 MiB for 1 and 2
# workers in a 1024 MiB VM, its own system included, and 446, 816 and 1173 MiB for 1 to 3 workers on
# the host (cgroup total_rss under hey -c 200), so 370 per worker and 96 besides stay above each.
# preload_shared_mb: what a preloaded Gunicorn worker shares copy-on-write with the others, which
# the default worker_memory_mb (a worker that imports the application itself) holds. Under hey -c 200,
# five preloaded Gunicorn workers peaked at 1362 MiB and two at 661 MiB (about 235 MiB per added
# worker), against 1871 MiB for five that each import the application; benchmarks/worker_memory.py
# measures it again (docs/performance.md, "Worker memory").
SERVER_MEMORY_MB = {
    "gunicorn": {"worker_memory_mb": 340.0, "base_memory_mb": 256.0, "preload_shared_mb": 120.0},
    "granian": {"worker_memory_mb": 370.0, "base_memory_mb": 96.0, "preload_shared_mb": 0.0},
}

# Settings an operator may override, by server; the plan re-checks every budget with them.
COMMON_SETTINGS = ("workers", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT", "DB_POOL_RECYCLE",
                   "REDIS_MAX_CONNECTIONS", "RATELIMITER_REDIS_MAX_CONNECTIONS", "REDIS_SOCKET_TIMEOUT",
                   "REDIS_SOCKET_CONNECT_TIMEOUT", "REDIS_HEALTH_CHECK_INTERVAL")
SERVER_SETTINGS = {
    "gunicorn": ("worker_class", "timeout", "graceful_timeout", "keepalive", "max_requests", "max_requests_jitter",
                 "preload_app", "backlog"),
    "granian": ("runtime_threads", "runtime_mode", "blocking_threads", "backpressure", "backlog", "http", "loop",
                "task_impl", "respawn_failed_workers", "workers_max_rss"),
}


class PlanError(Exception):
    """The inputs are invalid, or no plan fits the budgets: the message says which and how to fix it."""


# ------------------------------------------------------------------------- input checks


# What int() accepts of a survey's text, in ASCII only: "+-5" and "²" are not numbers.
WHOLE_NUMBER_TEXT = re.compile(r"^[+-]?[0-9]+$")
# Every count and number of seconds here ends in a C int of the servers, the drivers or the kernel.
MAX_WHOLE_NUMBER = 2 ** 31 - 1


def whole_number(name, value, minimum=1, maximum=MAX_WHOLE_NUMBER):
    """An int from an int or a string holding one (survey answers are strings)."""
    if isinstance(value, bool):
        raise PlanError("%s must be a whole number, got %r" % (name, value))
    if isinstance(value, str):
        text = value.strip()
        if not WHOLE_NUMBER_TEXT.match(text):
            raise PlanError("%s must be a whole number, got %r" % (name, value))
        value = int(text)
    elif isinstance(value, float):
        if not value.is_integer():
            raise PlanError("%s must be a whole number, got %r" % (name, value))
        value = int(value)
    elif not isinstance(value, int):
        raise PlanError("%s must be a whole number, got %r" % (name, value))
    if value < minimum:
        raise PlanError("%s must be at least %d, got %d" % (name, minimum, value))
    if value > maximum:
        shown = value if value < 10 ** 15 else "a number of %d digits" % len(str(value))
        raise PlanError("%s must be at most %d, got %s" % (name, maximum, shown))
    return value


def positive_number(name, value, zero_allowed=False):
    """A float > 0 (or >= 0 where zero is allowed) from a number or a string holding one."""
    kind = "a number >= 0" if zero_allowed else "a positive number"
    if isinstance(value, bool):
        raise PlanError("%s must be %s, got %r" % (name, kind, value))
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise PlanError("%s must be %s, got %r" % (name, kind, value))
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
        raise PlanError("%s must be %s, got %r" % (name, kind, value))
    if number > MAX_WHOLE_NUMBER:
        raise PlanError("%s must be at most %d, got %g" % (name, MAX_WHOLE_NUMBER, number))
    return number


def flag(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise PlanError("%s must be true or false, got %r" % (name, value))


def choice(name, value, choices):
    if value not in choices:
        raise PlanError("%s must be one of %s, got %r" % (name, ", ".join(choices), value))
    return value


def _dig(data, path, what):
    current = data
    for key in path.split("."):
        if not isinstance(current, dict) or key not in current or current[key] is None:
            raise PlanError("%s has no %s: pass the registered result of %s" % (what[0], path, what[1]))
        current = current[key]
    return current


def read_capacity(capacity):
    """CPU and memory from a capacity_info result."""
    what = ("capacity", "mcpgateway.tuning.capacity_info")
    if not isinstance(capacity, dict):
        raise PlanError("capacity must be the registered result of mcpgateway.tuning.capacity_info, got %r"
                        % type(capacity).__name__)
    cpus = positive_number("capacity.cpu.effective", _dig(capacity, "cpu.effective", what))
    cpu_int = whole_number("capacity.cpu.effective_int", _dig(capacity, "cpu.effective_int", what))
    cpu_ceil = whole_number("capacity.cpu.effective_ceil", _dig(capacity, "cpu.effective_ceil", what))
    memory = whole_number("capacity.memory.effective_bytes", _dig(capacity, "memory.effective_bytes", what),
                          maximum=2 ** 63 - 1)
    binding = str(capacity.get("cpu", {}).get("binding") or "none")
    return {
        "cpus": cpus,
        "cpu_int": cpu_int,
        "cpu_ceil": cpu_ceil,
        "memory_mib": memory / float(MIB),
        "cpu_binding": binding,
        "cpu_quota_binds": "quota" in binding or "cpu.max" in binding,
        "memory_binding": str(capacity.get("memory", {}).get("binding") or "none"),
    }


def read_probe(name, probe, available_key, module):
    """The connections a probe says are free, or an error naming why the probe is unusable."""
    if not isinstance(probe, dict):
        raise PlanError("%s must be the registered result of %s" % (name, module))
    if probe.get("skipped"):
        raise PlanError("%s is a skipped task's result: run %s first, or leave %s out" % (name, module, name))
    if probe.get("saturated"):
        # Full, not down: nothing is free now, and the plan may count only what the gateways give back.
        return 0
    if not probe.get("reachable"):
        raise PlanError("%s was not reachable, so its connection budget is unknown: %s. Fix the connection, "
                        "or leave %s out only if the gateway does not use it" % (name, probe.get("error"), name))
    if probe.get("error") and probe.get(available_key) is None:
        raise PlanError("%s was reached, but its connection budget could not be read: %s" % (name, probe["error"]))
    return whole_number("%s.%s" % (name, available_key), _dig(probe, available_key, (name, module)), minimum=0)


def normalize(request):
    """Checked, typed inputs from the raw request (survey strings become numbers)."""
    values = dict(DEFAULTS)
    values.update((key, value) for key, value in request.items() if value is not None)
    server = choice("server", values["server"], SERVERS)
    profile = choice("profile", values["profile"], PROFILES)
    if profile == "http1-only" and server != "granian":
        raise PlanError("profile http1-only is for server granian (Gunicorn's Uvicorn workers speak HTTP/1 "
                        "already): choose another profile or server granian")
    if "replicas" not in values:
        raise PlanError("replicas is required: the number of gateway hosts sharing this database and Redis")
    # A worker_memory_mb the operator measured (the growth of the service's memory per worker, with its
    # own preload setting) holds the sharing already: subtracting the default share again would count
    # it twice, so without a preload_shared_mb of its own it shares nothing more.
    worker_memory_given = "worker_memory_mb" in values
    if worker_memory_given:
        values.setdefault("preload_shared_mb", 0.0)
    for name, value in SERVER_MEMORY_MB[server].items():
        values.setdefault(name, value)
    inputs = {
        "server": server,
        "profile": profile,
        "replicas": whole_number("replicas", values["replicas"]),
        "rollout_surge": whole_number("rollout_surge", values["rollout_surge"], minimum=0),
        "concurrency": whole_number("concurrency", values["concurrency"]),
        "worker_memory_mb": positive_number("worker_memory_mb", values["worker_memory_mb"]),
        "base_memory_mb": positive_number("base_memory_mb", values["base_memory_mb"]),
        "preload_shared_mb": positive_number("preload_shared_mb", values["preload_shared_mb"], zero_allowed=True),
        "current_db_connections": whole_number("current_db_connections", values["current_db_connections"], 0),
        "current_redis_connections": whole_number("current_redis_connections",
                                                  values["current_redis_connections"], 0),
        "worker_memory_given": worker_memory_given,
        "allow_degraded": flag("allow_degraded", values["allow_degraded"]),
        "uvloop_available": flag("uvloop_available", values["uvloop_available"]),
    }
    inputs.update(read_capacity(values.get("capacity")))
    postgres = values.get("postgres")
    inputs["db_available"] = None if postgres is None else read_probe(
        "postgres", postgres, "connections_available", "mcpgateway.tuning.postgres_probe")
    inputs["db_pgbouncer"] = bool(postgres and postgres.get("pgbouncer"))
    redis = values.get("redis")
    inputs["redis_available"] = None if redis is None else read_probe(
        "redis", redis, "clients_available", "mcpgateway.tuning.redis_probe")
    inputs["redis_p99_ms"] = redis_p99_ms(redis) if redis else None
    inputs["saturated"], inputs["saturation_warnings"] = [], []
    for name, probe, held, what in (("PostgreSQL", postgres, "current_db_connections", "sessions"),
                                    ("Redis", redis, "current_redis_connections", "connections")):
        if not (isinstance(probe, dict) and probe.get("saturated")):
            continue
        if not inputs[held]:
            raise PlanError("%s refused the probe for want of a free slot, and the gateways of this run hold none of "
                            "its %s, so a tuning has none to give back: %s" % (name, what, probe.get("error")))
        inputs["saturated"].append(name)
        inputs["saturation_warnings"].append(
            "%s refused the probe for want of a free slot (%s): planned from the %d %s this run's gateways hold, "
            "which their new pools give back" % (name, probe.get("error"), inputs[held], what))
    inputs["overrides"] = normalize_overrides(server, values.get("overrides") or {})
    if inputs["preload_shared_mb"] >= inputs["worker_memory_mb"]:
        raise PlanError("preload_shared_mb (%g) must be below worker_memory_mb (%g): it is the part of a worker that "
                        "preloaded workers share" % (inputs["preload_shared_mb"], inputs["worker_memory_mb"]))
    return inputs


def redis_p99_ms(redis):
    """The probe's p99 round trip, 0 when it measured none."""
    latency = redis.get("latency_ms")
    if latency is None:
        return 0.0
    if not isinstance(latency, dict):
        raise PlanError("redis.latency_ms must be the probe's latency figures (a dictionary with p99), got %r: "
                        "pass the registered result of mcpgateway.tuning.redis_probe" % (latency,))
    p99 = latency.get("p99")
    return 0.0 if p99 is None else positive_number("redis.latency_ms.p99", p99, zero_allowed=True)


OVERRIDE_KINDS = {
    "worker_class": str, "http": str, "loop": str, "task_impl": str, "runtime_mode": str,
    "preload_app": bool, "respawn_failed_workers": bool,
    "REDIS_SOCKET_TIMEOUT": float, "REDIS_SOCKET_CONNECT_TIMEOUT": float,
}


def normalize_overrides(server, overrides):
    if not isinstance(overrides, dict):
        raise PlanError("overrides must be a dictionary of setting: value, got %r" % type(overrides).__name__)
    allowed = COMMON_SETTINGS + SERVER_SETTINGS[server]
    checked = {}
    for name, value in overrides.items():
        if name not in allowed:
            raise PlanError("overrides.%s is not a %s setting; the settings are: %s"
                            % (name, server, ", ".join(sorted(allowed))))
        kind = OVERRIDE_KINDS.get(name, int)
        label = "overrides.%s" % name
        if kind is int:
            minimum = 0 if name in ("DB_MAX_OVERFLOW", "max_requests", "max_requests_jitter",
                                    "REDIS_HEALTH_CHECK_INTERVAL") else 1
            checked[name] = whole_number(label, value, minimum=minimum)
        elif kind is float:
            checked[name] = positive_number(label, value)
        elif kind is bool:
            checked[name] = flag(label, value)
        else:
            if not isinstance(value, str) or not value.strip():
                raise PlanError("%s must be a non-empty string, got %r" % (label, value))
            checked[name] = value.strip()
    for name in ("REDIS_MAX_CONNECTIONS", "RATELIMITER_REDIS_MAX_CONNECTIONS"):
        if checked.get(name, MIN_REDIS_POOL_SIZE) < MIN_REDIS_POOL_SIZE:
            raise PlanError("overrides.%s=%d is below %d: a worker's listeners keep 4 connections of its pool, and "
                            "with fewer than 2 beside them its startup does not finish or its requests queue"
                            % (name, checked[name], MIN_REDIS_POOL_SIZE))
    return checked
