# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Properties of every plan, over the whole input space (hypothesis).

The budgets are recomputed here from docs/sizing.md, not read from the plan's own totals,
so a planner that miscounts cannot also vouch for itself."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing import make_plan
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import MIN_REDIS_POOL_SIZE, PlanError

MIB = 1024 * 1024
FRACTION = {"balanced": 0.85, "high-throughput": 0.85, "high-concurrency": 0.85, "memory-constrained": 0.75,
            "http1-only": 0.85}
GENEROUS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def db_budget(available):
    return max(0, available - max(5, math.ceil(0.10 * available)))


def redis_budget(available):
    return max(0, available - max(8, math.ceil(0.05 * available)))


@st.composite
def requests(draw):
    cpus = draw(st.floats(min_value=0.1, max_value=64, allow_nan=False))
    server = draw(st.sampled_from(["gunicorn", "granian"]))
    profiles = ["balanced", "high-throughput", "high-concurrency", "memory-constrained"]
    profile = draw(st.sampled_from(profiles + (["http1-only"] if server == "granian" else [])))
    worker_memory = draw(st.floats(min_value=30, max_value=4000, allow_nan=False))
    return {
        "capacity": {
            "cpu": {"effective": cpus, "effective_int": max(1, int(math.floor(cpus + 0.01))),
                    "effective_ceil": max(1, int(math.ceil(cpus - 0.01))),
                    "binding": draw(st.sampled_from(["none", "CPU affinity", "cgroup v2 cpu.max at /a",
                                                     "systemd CPUQuota="]))},
            "memory": {"effective_bytes": draw(st.integers(min_value=64 * MIB, max_value=512 * 1024 * MIB)),
                       "binding": "none"},
        },
        "postgres": draw(st.none() | st.builds(lambda n: {"reachable": True, "connections_available": n},
                                               st.integers(min_value=0, max_value=3000))),
        "redis": draw(st.none() | st.builds(lambda n, p99: {"reachable": True, "clients_available": n,
                                                            "latency_ms": {"p99": p99}},
                                            st.integers(min_value=0, max_value=20000),
                                            st.floats(min_value=0.01, max_value=2000, allow_nan=False))),
        "replicas": draw(st.integers(min_value=1, max_value=30)),
        "rollout_surge": draw(st.integers(min_value=0, max_value=3)),
        "server": server,
        "profile": profile,
        "concurrency": draw(st.integers(min_value=1, max_value=10000)),
        "worker_memory_mb": worker_memory,
        "base_memory_mb": draw(st.floats(min_value=1, max_value=2048, allow_nan=False)),
        "preload_shared_mb": draw(st.floats(min_value=0, max_value=0.9, allow_nan=False)) * worker_memory,
        "current_db_connections": draw(st.integers(min_value=0, max_value=200)),
        "current_redis_connections": draw(st.integers(min_value=0, max_value=500)),
        "allow_degraded": draw(st.booleans()),
    }


def budgets(request):
    replicas_total = request["replicas"] + request["rollout_surge"]
    db = None if request["postgres"] is None else db_budget(
        request["postgres"]["connections_available"] + request["current_db_connections"])
    redis = None if request["redis"] is None else redis_budget(
        request["redis"]["clients_available"] + request["current_redis_connections"])
    return replicas_total, db, redis


def memory_per_worker_and_base(request):
    """Preloaded Gunicorn workers count their shared part once, in the base."""
    preloads = request["server"] == "gunicorn" and (request.get("overrides") or {}).get("preload_app", True)
    shared = request["preload_shared_mb"] if preloads else 0
    return request["worker_memory_mb"] - shared, request["base_memory_mb"] + shared


def assert_plan_keeps_its_guarantees(request, result):
    settings_ = result["settings"]
    workers = settings_["workers"]
    replicas_total, db, redis = budgets(request)
    memory_mib = request["capacity"]["memory"]["effective_bytes"] / float(MIB)

    # 16 caps the planner's own choice; an operator's override may go beyond it within the budgets.
    assert 1 <= workers <= max(16, int((request.get("overrides") or {}).get("workers", 0)))
    assert settings_["DB_POOL_SIZE"] >= 1 and settings_["DB_MAX_OVERFLOW"] >= 0
    assert settings_["DB_POOL_SIZE"] + settings_["DB_MAX_OVERFLOW"] >= 2
    assert settings_["REDIS_MAX_CONNECTIONS"] >= 2
    per_worker, base = memory_per_worker_and_base(request)
    assert workers * per_worker + base <= FRACTION[request["profile"]] * memory_mib + 1e-6
    if db is not None:
        assert replicas_total * workers * (settings_["DB_POOL_SIZE"] + settings_["DB_MAX_OVERFLOW"]) <= db
    if redis is not None:
        per_worker = 2 * settings_["REDIS_MAX_CONNECTIONS"] + settings_["RATELIMITER_REDIS_MAX_CONNECTIONS"] + 4
        assert replicas_total * workers * per_worker <= redis
    assert set(result["reasons"]) == set(settings_)
    for name, reason in result["reasons"].items():
        assert reason.startswith("%s = " % name)
    if result["degraded"]:
        assert request["allow_degraded"]
        assert result["warnings"][0].startswith("degraded: ")


def a_plan_exists(request):
    """Whether one worker fits memory and both budgets: then a degraded plan must be found."""
    replicas_total, db, redis = budgets(request)
    memory_mib = request["capacity"]["memory"]["effective_bytes"] / float(MIB)
    fits_memory = sum(memory_per_worker_and_base(request)) <= FRACTION[request["profile"]] * memory_mib
    fits_db = db is None or db // replicas_total >= 2
    fits_redis = redis is None or redis // replicas_total >= 3 * MIN_REDIS_POOL_SIZE + 4
    return fits_memory and fits_db and fits_redis


@GENEROUS
@given(requests())
def test_every_plan_keeps_memory_and_connections_inside_the_budgets(request):
    try:
        result = make_plan(request)
    except PlanError:
        assert not (request["allow_degraded"] and a_plan_exists(request))
        return
    assert_plan_keeps_its_guarantees(request, result)


@GENEROUS
@given(requests())
def test_a_degraded_plan_is_found_whenever_one_worker_fits(request):
    request = dict(request, allow_degraded=True)
    assume(a_plan_exists(request))
    result = make_plan(request)
    assert_plan_keeps_its_guarantees(request, result)


@GENEROUS
@given(requests())
def test_the_plan_is_deterministic(request):
    try:
        first = make_plan(request)
    except PlanError as error:
        try:
            make_plan(request)
        except PlanError as again:
            assert str(again) == str(error)
            return
        raise AssertionError("the second call succeeded where the first failed")
    assert make_plan(request) == first


@GENEROUS
@given(requests(), st.sampled_from(["workers", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "REDIS_MAX_CONNECTIONS",
                                    "RATELIMITER_REDIS_MAX_CONNECTIONS", "DB_POOL_TIMEOUT", "backlog"]),
       st.integers(min_value=1, max_value=400), st.booleans())
def test_overrides_are_respected_or_refused_with_a_reason(request, name, value, as_string):
    request = dict(request, overrides={name: str(value) if as_string else value})
    try:
        result = make_plan(request)
    except PlanError as error:
        # Either the inputs allow no plan at all, or the override is named in the refusal.
        try:
            make_plan(dict(request, overrides={}))
        except PlanError:
            return
        assert "overrides.%s=%d" % (name, value) in str(error)
        return
    assert result["settings"][name] == value
    assert_plan_keeps_its_guarantees(request, result)


@GENEROUS
@given(requests())
def test_survey_strings_give_the_same_plan_as_numbers(request):
    as_strings = dict(request)
    for name in ("replicas", "rollout_surge", "concurrency", "current_db_connections", "current_redis_connections"):
        as_strings[name] = " %d " % request[name]
    as_strings["allow_degraded"] = "yes" if request["allow_degraded"] else "no"
    try:
        expected = make_plan(request)
    except PlanError as error:
        try:
            make_plan(as_strings)
        except PlanError as again:
            assert str(again) == str(error)
            return
        raise AssertionError("strings planned where numbers failed")
    assert make_plan(as_strings) == expected


@GENEROUS
@given(requests())
def test_workers_from_cpu_cover_every_cpu_and_add_at_most_one(request):
    # Memory and connections left out of the way, so that the CPU alone decides.
    request = dict(request, postgres=None, redis=None, worker_memory_mb=30.0, base_memory_mb=1.0,
                   preload_shared_mb=0.0, overrides={})
    request["capacity"] = dict(request["capacity"], memory={"effective_bytes": 512 * 1024 * MIB, "binding": "none"})
    every_cpu = request["capacity"]["cpu"]["effective_ceil"]

    workers = make_plan(request)["settings"]["workers"]
    constrained = make_plan(dict(request, profile="memory-constrained"))["settings"]["workers"]

    assert workers == 16 or every_cpu <= workers <= every_cpu + 1
    assert workers <= 16
    assert constrained <= workers
