# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sizing plan over realistic hosts and databases: every figure and reason checked."""

from __future__ import annotations

import math

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils import sizing, sizing_inputs
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing import make_plan
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError

GIB = 1024 ** 3
MIB = 1024 ** 2


def capacity(cpus, memory_bytes, cpu_binding="none", memory_binding="none"):
    """The shape of a capacity_info result, with the fields the planner reads."""
    return {
        "cpu": {"effective": cpus, "effective_int": max(1, int(math.floor(cpus + 0.01))),
                "effective_ceil": max(1, int(math.ceil(cpus - 0.01))), "binding": cpu_binding},
        "memory": {"effective_bytes": memory_bytes, "binding": memory_binding},
    }


def postgres(available, pgbouncer=False):
    return {"reachable": True, "error": None, "connections_available": available, "pgbouncer": pgbouncer}


def redis(available, p99_ms=0.2):
    return {"reachable": True, "error": None, "clients_available": available, "latency_ms": {"p99": p99_ms}}


HOSTS = {
    "1 vCPU / 1 GiB": capacity(1.0, GIB),
    "1.5-CPU quota": capacity(1.5, 24 * GIB, cpu_binding="cgroup v1 cpu.cfs_quota_us at /machine/vm1"),
    "2 x 8 GiB": capacity(2.0, 8 * GIB),
    "16 x 64 GiB": capacity(16.0, 64 * GIB),
    "memory-limited unit": capacity(4.0, 1536 * MIB,
                                    memory_binding="cgroup v2 memory.max at /system.slice/mcpgateway.service"),
}
# max_connections 100, 20 and 800, with other clients connected (superuser slots already taken off by the probe).
DATABASES = {
    "100, 10 in use": postgres(100 - 3 - 10),
    "20, 2 in use": postgres(20 - 3 - 2),
    "800, 100 in use": postgres(800 - 3 - 100),
}


def plan(**request):
    request.setdefault("replicas", 1)
    return make_plan(request)


# ------------------------------------------------------------------------ workers


@pytest.mark.parametrize("host, server, workers, binding", [
    ("1 vCPU / 1 GiB", "gunicorn", 2, "CPU"),
    ("1.5-CPU quota", "gunicorn", 2, "CPU"),
    ("2 x 8 GiB", "gunicorn", 3, "CPU"),
    ("16 x 64 GiB", "gunicorn", 16, "CPU"),
    ("memory-limited unit", "gunicorn", 4, "memory"),
    ("1 vCPU / 1 GiB", "granian", 1, "CPU"),
    ("1.5-CPU quota", "granian", 2, "CPU"),
    ("2 x 8 GiB", "granian", 2, "CPU"),
    ("16 x 64 GiB", "granian", 16, "CPU"),
    ("memory-limited unit", "granian", 3, "memory"),
])
def test_workers_for_realistic_hosts(host, server, workers, binding):
    result = plan(capacity=HOSTS[host], server=server)

    assert result["settings"]["workers"] == workers
    assert result["reasons"]["workers"].startswith("workers = %d: %s" % (workers, binding))
    assert result["totals"]["memory_mb"] <= result["totals"]["memory_limit_mb"]


def test_memory_bound_reason_states_the_arithmetic_and_what_cpu_would_allow():
    result = plan(capacity=HOSTS["memory-limited unit"])

    assert result["reasons"]["workers"] == (
        "workers = 4: memory, 85 % of 1536 MiB (cgroup v2 memory.max at /system.slice/mcpgateway.service) = 1306 MiB, "
        "minus 376 MiB base, at 220 MiB per worker (preloaded: 120 MiB of each worker's 340 shared once); CPU would "
        "allow 5 (4 CPUs + 1 (a Uvicorn event loop per CPU and one more, to spare; gunicorn's 2 x CPUs + 1 is for sync "
        "workers))")


def test_workers_that_do_not_preload_count_their_whole_memory():
    result = plan(capacity=HOSTS["memory-limited unit"], overrides={"preload_app": False})

    assert result["settings"]["preload_app"] is False
    assert result["settings"]["workers"] == 3
    assert "minus 256 MiB base, at 340 MiB per worker; CPU" in result["reasons"]["workers"]
    assert result["totals"]["memory_mb"] == 3 * 340 + 256


def test_granian_counts_its_own_measured_memory_model():
    # The performance suite's small VM: a 1.5-CPU quota and 1024 MiB. Granian's master does not
    # import the application, so its base is small: 2 workers fit (measured: 764 MiB anonymous).
    small_vm = capacity(1.5, 1024 * MIB, cpu_binding="cgroup v2 cpu.max at /machine.slice/vm",
                        memory_binding="cgroup v2 memory.max at /machine.slice/vm")
    result = plan(capacity=small_vm, server="granian")

    assert result["settings"]["workers"] == 2
    assert result["reasons"]["workers"].startswith("workers = 2: CPU, 1.5 CPUs rounded up")
    assert result["reasons"]["workers"].endswith("memory would allow 2")
    assert result["totals"]["memory_mb"] == 96 + 2 * 370
    assert "minus 96 MiB base, at 370 MiB per worker; CPU" in plan(
        capacity=HOSTS["memory-limited unit"], server="granian")["reasons"]["workers"]


def test_measured_memory_replaces_the_server_figures():
    result = plan(capacity=HOSTS["memory-limited unit"], server="granian", worker_memory_mb="500", base_memory_mb=300)

    assert result["settings"]["workers"] == 2
    assert "minus 300 MiB base, at 500 MiB per worker (as given: the measured growth per worker, sharing " \
           "included); CPU" in result["reasons"]["workers"]


def test_a_measured_worker_figure_is_not_shared_a_second_time():
    # benchmarks/worker_memory.py: measured growth with preload is what a worker costs; the default
    # share of 120 MiB is subtracted only from the default figure, which is a worker unshared.
    measured = plan(capacity=HOSTS["2 x 8 GiB"], worker_memory_mb=190, base_memory_mb=250)
    assert measured["inputs"]["preload_shared_mb"] == 0
    assert measured["totals"]["memory_mb"] == 250 + measured["settings"]["workers"] * 190
    both = plan(capacity=HOSTS["2 x 8 GiB"], worker_memory_mb=340, base_memory_mb=256, preload_shared_mb=120)
    assert both["totals"]["memory_mb"] == 256 + 120 + both["settings"]["workers"] * (340 - 120)
    assert plan(capacity=HOSTS["2 x 8 GiB"])["totals"] == both["totals"]


def test_preload_sharing_is_an_input_that_must_stay_below_a_worker():
    assert plan(capacity=HOSTS["memory-limited unit"], preload_shared_mb="0")["settings"]["workers"] == 3
    with pytest.raises(PlanError) as error:
        plan(capacity=HOSTS["memory-limited unit"], preload_shared_mb=340)
    assert str(error.value).startswith("preload_shared_mb (340) must be below worker_memory_mb (340)")
    with pytest.raises(PlanError) as error:
        plan(capacity=HOSTS["memory-limited unit"], preload_shared_mb="-1")
    assert str(error.value) == "preload_shared_mb must be a number >= 0, got '-1'"


def test_workers_cover_the_fraction_of_a_cpu_that_a_quota_allows():
    gunicorn = plan(capacity=HOSTS["1.5-CPU quota"])
    granian = plan(capacity=HOSTS["1.5-CPU quota"], server="granian")

    assert gunicorn["reasons"]["workers"].startswith(
        "workers = 2: CPU, 1.5 CPUs: 1 whole + 1 (a Uvicorn event loop per CPU and one more, for the fraction; "
        "gunicorn's 2 x CPUs + 1 is for sync workers); the CPUs are a CFS quota's (cgroup v1 cpu.cfs_quota_us at "
        "/machine/vm1); memory")
    assert granian["reasons"]["workers"].startswith(
        "workers = 2: CPU, 1.5 CPUs rounded up (one worker per CPU: Granian's rule and upstream's auto); the CPUs "
        "are a CFS quota's")


def test_whole_cpus_give_gunicorn_one_worker_to_spare_and_granian_none():
    gunicorn = plan(capacity=HOSTS["2 x 8 GiB"])
    granian = plan(capacity=HOSTS["2 x 8 GiB"], server="granian")

    assert gunicorn["reasons"]["workers"] == (
        "workers = 3: CPU, 2 CPUs + 1 (a Uvicorn event loop per CPU and one more, to spare; gunicorn's 2 x CPUs + 1 "
        "is for sync workers); memory would allow 29")
    assert granian["reasons"]["workers"] == (
        "workers = 2: CPU, 2 CPUs (one worker per CPU: Granian's rule and upstream's auto); memory would allow 18")


def test_sixteen_workers_at_most():
    result = plan(capacity=capacity(64.0, 256 * GIB))

    assert result["settings"]["workers"] == 16
    assert "= 65, capped at 16" in result["reasons"]["workers"]


def test_memory_that_holds_no_worker_fails_with_the_fix():
    with pytest.raises(PlanError) as error:
        plan(capacity=capacity(2.0, 512 * MIB))

    message = str(error.value)
    assert message.startswith("memory holds no gateway worker: 85 % of 512 MiB (host memory) = 435 MiB, minus 376 MiB")
    assert "Give the gateway more memory" in message


def test_memory_constrained_profile_uses_less_memory_and_fewer_workers():
    result = plan(capacity=HOSTS["2 x 8 GiB"], profile="memory-constrained")

    assert result["settings"]["workers"] == 2
    assert result["reasons"]["workers"].startswith("workers = 2: CPU, 2 CPUs (memory-constrained: one worker per CPU)")
    assert result["totals"]["memory_limit_mb"] == round(0.75 * 8192, 1)
    assert result["settings"]["max_requests"] == 20000


# ---------------------------------------------------------------------- database pools


def test_default_postgres_with_others_connected_on_a_2_cpu_host():
    result = plan(capacity=HOSTS["2 x 8 GiB"], postgres=DATABASES["100, 10 in use"], redis=redis(10000))
    settings, totals = result["settings"], result["totals"]

    # 87 free - max(5, 9) headroom = 78; / (1 replica + 1 surge) / 3 workers = 13 per worker.
    assert totals["db_budget"] == 78
    assert (settings["DB_POOL_SIZE"], settings["DB_MAX_OVERFLOW"]) == (8, 5)
    assert totals["db_connections"] == 2 * 3 * 13 == 78
    assert result["reasons"]["DB_POOL_SIZE"] == (
        "DB_POOL_SIZE = 8: 60 % kept open of 13 per worker (budget 78 (87 free + 0 held by the gateway - 9 headroom) "
        "/ 2 replicas / 3 workers = 13 per worker; "
        "demand 34 concurrent requests per worker x 1 + 1 for background work = 35; profile cap 40)")
    assert result["reasons"]["DB_MAX_OVERFLOW"] == "DB_MAX_OVERFLOW = 5: the rest of 13 per worker, opened only under load"
    assert result["degraded"] is False
    assert result["warnings"] == []


def test_large_database_pools_follow_demand_not_the_budget():
    result = plan(capacity=HOSTS["16 x 64 GiB"], postgres=DATABASES["800, 100 in use"], replicas=2)
    settings = result["settings"]

    # demand: ceil(100 / 16) = 7 concurrent requests + 1 = 8 per worker, far below 627 / 3 / 16 = 13.
    assert (settings["workers"], settings["DB_POOL_SIZE"], settings["DB_MAX_OVERFLOW"]) == (16, 5, 3)
    assert result["totals"]["db_connections"] == 3 * 16 * 8
    assert result["totals"]["db_budget"] == 697 - 70


def test_a_small_database_fails_with_the_numbers_and_the_fixes():
    with pytest.raises(PlanError) as error:
        plan(capacity=HOSTS["2 x 8 GiB"], postgres=DATABASES["20, 2 in use"], replicas=3)

    message = str(error.value)
    assert message.startswith("no plan fits: PostgreSQL cannot give 2 connections to each of 3 workers of 4 replicas: "
                              "10 connections (15 seen free + 0 held by the gateway - 5 headroom) / 4 replicas (3 + 1 "
                              "during a rollout) = 2 per replica, enough for 1 worker(s)")
    assert "raise max_connections" in message and "put PgBouncer in front" in message
    assert "set allow_degraded: true to run 1 worker(s)" in message


def test_allow_degraded_lowers_workers_to_fit_and_says_so():
    result = plan(capacity=HOSTS["2 x 8 GiB"], postgres=DATABASES["20, 2 in use"], replicas=3, allow_degraded=True)

    assert result["degraded"] is True
    assert result["settings"]["workers"] == 1
    assert (result["settings"]["DB_POOL_SIZE"], result["settings"]["DB_MAX_OVERFLOW"]) == (1, 1)
    assert result["totals"]["db_connections"] == 8 <= result["totals"]["db_budget"] == 10
    assert result["reasons"]["workers"].startswith("workers = 1: degraded to fit PostgreSQL")
    assert result["warnings"][0].startswith("degraded: PostgreSQL cannot give 2 connections to each of 3 workers")


def test_no_degrading_below_one_worker():
    with pytest.raises(PlanError, match="enough for 0 worker"):
        plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(6), allow_degraded=True)


def test_connections_the_gateway_holds_now_are_added_back():
    without = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(30))
    with_held = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(30), current_db_connections=40)

    assert (without["totals"]["db_budget"], with_held["totals"]["db_budget"]) == (25, 63)


def test_without_postgres_pools_follow_demand():
    result = plan(capacity=HOSTS["2 x 8 GiB"], concurrency=20)

    # ceil(20 / 3 workers) = 7 concurrent requests + 1 = 8 per worker, 60 % of them kept open.
    assert (result["settings"]["DB_POOL_SIZE"], result["settings"]["DB_MAX_OVERFLOW"]) == (5, 3)
    assert result["totals"]["db_budget"] is None
    assert "no PostgreSQL budget given" in result["reasons"]["DB_POOL_SIZE"]


def test_many_open_connections_suggest_pgbouncer():
    result = plan(capacity=HOSTS["16 x 64 GiB"], postgres=postgres(5000), replicas=4, concurrency=1000)

    assert any("consider PgBouncer" in warning for warning in result["warnings"])


# ------------------------------------------------------------------------------- Redis


def test_redis_pools_cover_the_three_sized_pools_and_the_fixed_clients():
    result = plan(capacity=HOSTS["2 x 8 GiB"], redis=redis(10000))
    settings, totals = result["settings"], result["totals"]

    # demand ceil(100 / 3 workers) x 1.5 = 51, above the profile's cap of 50.
    assert settings["REDIS_MAX_CONNECTIONS"] == settings["RATELIMITER_REDIS_MAX_CONNECTIONS"] == 50
    assert totals["redis_connections_per_worker"] == 3 * 50 + 4
    assert totals["redis_connections"] == 2 * 3 * 154
    assert totals["redis_budget"] == 10000 - 500


def test_small_redis_fails_and_degrades():
    # A worker needs 3 pools of 6 (its listeners keep 4 of the first) and 4 fixed clients: 22.
    with pytest.raises(PlanError, match="no plan fits: Redis cannot give 22 connections to each of 3 workers"):
        plan(capacity=HOSTS["2 x 8 GiB"], redis=redis(100), replicas=2)
    result = plan(capacity=HOSTS["2 x 8 GiB"], redis=redis(100), replicas=2, allow_degraded=True)

    # 100 - 8 headroom = 92 clients / 3 = 30 per replica: one worker of 3 pools of 8 + 4 fixed.
    assert result["settings"]["workers"] == 1
    assert result["settings"]["REDIS_MAX_CONNECTIONS"] == 8
    assert result["totals"]["redis_connections"] == 3 * 28 <= 92


def test_redis_timeout_follows_a_slow_probe():
    fast = plan(capacity=HOSTS["2 x 8 GiB"], redis=redis(10000, p99_ms=0.3))
    slow = plan(capacity=HOSTS["2 x 8 GiB"], redis=redis(10000, p99_ms=250.0))

    assert fast["settings"]["REDIS_SOCKET_TIMEOUT"] == 2.0
    assert slow["settings"]["REDIS_SOCKET_TIMEOUT"] == 5.0
    assert "PING p99 of 250.00 ms" in slow["reasons"]["REDIS_SOCKET_TIMEOUT"]


# ------------------------------------------------------------------------ server settings


def test_gunicorn_settings_and_reasons():
    result = plan(capacity=HOSTS["2 x 8 GiB"])
    settings = result["settings"]

    assert {key: settings[key] for key in sizing_inputs.SERVER_SETTINGS["gunicorn"]} == {
        "worker_class": "uvicorn_worker.UvicornWorker", "timeout": 120, "graceful_timeout": 30, "keepalive": 5,
        "max_requests": 100000, "max_requests_jitter": 10000, "preload_app": True, "backlog": 2048}
    assert not set(sizing_inputs.SERVER_SETTINGS["granian"]) - set(sizing_inputs.SERVER_SETTINGS["gunicorn"]) & set(settings)
    assert set(result["reasons"]) == set(settings)


def test_granian_settings_by_profile():
    balanced = plan(capacity=HOSTS["2 x 8 GiB"], server="granian")["settings"]
    streams = plan(capacity=HOSTS["2 x 8 GiB"], server="granian", profile="high-concurrency",
                   concurrency=2000)["settings"]
    http1 = plan(capacity=HOSTS["2 x 8 GiB"], server="granian", profile="http1-only")["settings"]
    small = plan(capacity=HOSTS["2 x 8 GiB"], server="granian", profile="memory-constrained")["settings"]

    assert {key: balanced[key] for key in sizing_inputs.SERVER_SETTINGS["granian"] if key in balanced} == {
        "runtime_threads": 1, "runtime_mode": "st", "blocking_threads": 1, "backlog": 1024, "backpressure": 512,
        "http": "auto", "loop": "uvloop", "task_impl": "asyncio", "respawn_failed_workers": True}
    assert (streams["runtime_threads"], streams["runtime_mode"], streams["backlog"], streams["backpressure"]) == (
        2, "mt", 4000, 2000)
    assert http1["http"] == "1"
    # 1.5 x Granian's 370 MiB per worker.
    assert small["workers_max_rss"] == 555
    assert "workers_max_rss" not in balanced


# --------------------------------------------------------------------- overrides


def test_overrides_are_applied_with_what_the_plan_would_choose():
    result = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(200),
                  overrides={"workers": "4", "timeout": "300", "preload_app": "false"})
    settings, reasons = result["settings"], result["reasons"]

    assert (settings["workers"], settings["timeout"], settings["preload_app"]) == (4, 300, False)
    assert reasons["workers"].startswith("workers = 4: overridden; the plan would choose 3: CPU allows 3")
    assert reasons["timeout"].startswith("timeout = 300: overridden; the plan would choose 120: seconds")
    assert result["inputs"]["overrides"] == {"workers": 4, "timeout": 300, "preload_app": False}


@pytest.mark.parametrize("overrides, message", [
    ({"workers": 30}, "overrides.workers=30 breaks the memory budget: 85 % of 8192 MiB"),
    ({"workers": 12}, "overrides.workers=12 does not fit: PostgreSQL cannot give 2 connections to each of 12 workers"),
    ({"DB_POOL_SIZE": 50}, "overrides.DB_POOL_SIZE=50 break the PostgreSQL budget: 2 replicas x 3 workers x (50 + "),
    ({"REDIS_MAX_CONNECTIONS": 500}, "overrides.REDIS_MAX_CONNECTIONS=500 break the Redis budget"),
    ({"runtime_threads": 2}, "overrides.runtime_threads is not a gunicorn setting"),
    ({"workers": "four"}, "overrides.workers must be a whole number, got 'four'"),
    ({"workers": 0}, "overrides.workers must be at least 1, got 0"),
    ({"timeout": 2.5}, "overrides.timeout must be a whole number, got 2.5"),
    ({"backlog": 2 * 10 ** 15}, "overrides.backlog must be at most 2147483647, got a number of 16 digits"),
    ({"backlog": "+-5"}, "overrides.backlog must be a whole number, got '+-5'"),
    ({"REDIS_SOCKET_TIMEOUT": "nan"}, "overrides.REDIS_SOCKET_TIMEOUT must be a positive number, got 'nan'"),
    ({"preload_app": "maybe"}, "overrides.preload_app must be true or false"),
    ({"REDIS_MAX_CONNECTIONS": 5}, "overrides.REDIS_MAX_CONNECTIONS=5 is below 6: a worker's listeners keep 4"),
    ({"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0}, "overrides.DB_POOL_SIZE=1 leave 1 connection per worker"),
])
def test_overrides_that_break_a_budget_or_make_no_sense_are_refused(overrides, message):
    with pytest.raises(PlanError) as error:
        plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(40), redis=redis(2000), overrides=overrides)
    assert message in str(error.value)


# --------------------------------------------------------------------- input checks


def test_survey_strings_are_converted():
    from_strings = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(97), replicas="2", rollout_surge="0",
                        concurrency="200", worker_memory_mb="300.5", allow_degraded="no")
    from_numbers = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(97), replicas=2, rollout_surge=0,
                        concurrency=200, worker_memory_mb=300.5, allow_degraded=False)

    assert from_strings == from_numbers


@pytest.mark.parametrize("request_changes, message", [
    ({"replicas": "four"}, "replicas must be a whole number, got 'four'"),
    ({"replicas": 0}, "replicas must be at least 1, got 0"),
    # Text that str.isdigit() or int() would half accept, and numbers no server can take.
    ({"replicas": "+-5"}, "replicas must be a whole number, got '+-5'"),
    ({"replicas": "\u00b2"}, "replicas must be a whole number, got '\u00b2'"),
    ({"concurrency": "\u0663"}, "concurrency must be a whole number, got '\u0663'"),
    ({"concurrency": 2 * 10 ** 15}, "concurrency must be at most 2147483647, got a number of 16 digits"),
    ({"worker_memory_mb": "1e300"}, "worker_memory_mb must be at most 2147483647, got 1e+300"),
    ({"worker_memory_mb": "inf"}, "worker_memory_mb must be a positive number, got 'inf'"),
    ({"redis": {"reachable": True, "clients_available": 100, "latency_ms": "fast"}},
     "redis.latency_ms must be the probe's latency figures (a dictionary with p99), got 'fast'"),
    ({"redis": {"reachable": True, "clients_available": 100, "latency_ms": {"p99": "slow"}}},
     "redis.latency_ms.p99 must be a number >= 0, got 'slow'"),
    ({"concurrency": -5}, "concurrency must be at least 1, got -5"),
    ({"rollout_surge": -1}, "rollout_surge must be at least 0, got -1"),
    ({"worker_memory_mb": "0"}, "worker_memory_mb must be a positive number, got '0'"),
    ({"worker_memory_mb": "lots"}, "worker_memory_mb must be a positive number, got 'lots'"),
    ({"profile": "turbo"}, "profile must be one of balanced, high-throughput, high-concurrency, memory-constrained, "
                           "http1-only, got 'turbo'"),
    ({"server": "uwsgi"}, "server must be one of gunicorn, granian, got 'uwsgi'"),
    ({"profile": "http1-only"}, "profile http1-only is for server granian"),
    ({"allow_degraded": "perhaps"}, "allow_degraded must be true or false"),
    ({"capacity": {"cpu": {"effective": 2}}}, "capacity has no cpu.effective_int: pass the registered result of "
                                              "mcpgateway.tuning.capacity_info"),
    ({"capacity": {"cpu": {"effective": 2, "effective_int": 2}}}, "capacity has no cpu.effective_ceil"),
    ({"capacity": "2 cpus"}, "capacity must be the registered result of mcpgateway.tuning.capacity_info"),
    ({"postgres": {"reachable": False, "error": "connection refused by postgresql://db:5432/mcp"}},
     "postgres was not reachable, so its connection budget is unknown: connection refused by postgresql://db:5432/mcp"),
    ({"redis": {"skipped": True}}, "redis is a skipped task's result"),
    ({"redis": {"reachable": True}}, "redis has no clients_available"),
    # A user without +info: the planner names that, not a missing probe result.
    ({"redis": {"reachable": True, "clients_available": None,
                "error": "connected to redis://cache:6379/0 and logged in, but this user may not run INFO"}},
     "redis was reached, but its connection budget could not be read: connected to redis://cache:6379/0 and logged "
     "in, but this user may not run INFO"),
])
def test_bad_input_names_the_option(request_changes, message):
    request = {"capacity": HOSTS["2 x 8 GiB"], "replicas": 1}
    request.update(request_changes)
    with pytest.raises(PlanError) as error:
        make_plan(request)
    assert message in str(error.value)


def test_a_probe_without_latency_figures_plans_as_if_none_were_measured():
    without = plan(capacity=HOSTS["2 x 8 GiB"], redis=dict(redis(2000), latency_ms=None))
    unmeasured = plan(capacity=HOSTS["2 x 8 GiB"], redis=dict(redis(2000), latency_ms={"p99": None}))
    assert without == unmeasured and without["inputs"]["redis_p99_ms"] == 0


def test_replicas_are_required():
    with pytest.raises(PlanError, match="replicas is required"):
        make_plan({"capacity": HOSTS["2 x 8 GiB"]})


def test_pgbouncer_budget_is_used_like_a_database_budget():
    result = plan(capacity=HOSTS["2 x 8 GiB"], postgres=postgres(47, pgbouncer=True))

    assert result["inputs"]["db_pgbouncer"] is True
    assert result["totals"]["db_budget"] == 42


# ---------------------------------------------------------------------- replicas


def test_held_connections_are_summed_over_the_given_hosts_only():
    hostvars = {
        "gw1": {"held": {"connections": {"postgres": 12, "redis": 31}, "processes": 9}},
        "gw2": {"held": {"connections": {"postgres": 5, "redis": None}, "processes": 9}},
        # Not counted yet, skipped, failed: nothing to add back.
        "gw3": {},
        "gw4": {"held": {"skipped": True}},
        "gw5": {"held": {"failed": True, "msg": "no such process"}},
        "other": {"held": {"connections": {"postgres": 100, "redis": 100}}},
    }

    assert sizing.held_by(["gw1", "gw2", "gw3", "gw4", "gw5"], hostvars, "held") == (17, 31)
    assert sizing.held_by(["gw3"], hostvars, "held") == (0, 0)


def test_granian_runs_asyncio_when_uvloop_is_missing_and_says_why():
    result = plan(capacity=HOSTS["2 x 8 GiB"], server="granian", uvloop_available="false")

    assert result["settings"]["loop"] == "asyncio"
    assert "uvloop is not installed" in result["reasons"]["loop"]
    assert "overridden" not in result["reasons"]["loop"]
    assert plan(capacity=HOSTS["2 x 8 GiB"], server="granian")["settings"]["loop"] == "uvloop"
    # An operator's choice still wins, with the plan's view beside it.
    forced = plan(capacity=HOSTS["2 x 8 GiB"], server="granian", uvloop_available=False, overrides={"loop": "uvloop"})
    assert forced["settings"]["loop"] == "uvloop" and "the plan would choose asyncio" in forced["reasons"]["loop"]


# ------------------------------------------------------------------- servers full of the gateways' own


def test_a_server_full_of_the_gateways_own_connections_is_planned_from_what_they_hold():
    full_postgres = {"reachable": False, "saturated": True, "connections_available": 0,
                     "error": "postgresql://db:5432/mcp has no connection slot left (FATAL: too many clients)"}
    full_redis = {"reachable": False, "saturated": True, "clients_available": 0, "latency_ms": None,
                  "error": "redis://cache:6379/0 has no client slot left (max number of clients reached)"}
    result = plan(capacity=HOSTS["2 x 8 GiB"], postgres=full_postgres, redis=full_redis, replicas=3,
                  current_db_connections=57, current_redis_connections=300)

    # Planned as if what the three replicas hold were free: 57 - 6 headroom, 300 - 15 headroom.
    assert (result["totals"]["db_budget"], result["totals"]["redis_budget"]) == (51, 285)
    assert result["totals"]["db_connections"] <= 51 and result["totals"]["redis_connections"] <= 285
    assert result["saturated"] == ["PostgreSQL", "Redis"]
    assert result["warnings"][:2] == [
        "PostgreSQL refused the probe for want of a free slot (postgresql://db:5432/mcp has no connection slot left "
        "(FATAL: too many clients)): planned from the 57 sessions this run's gateways hold, which their new pools "
        "give back",
        "Redis refused the probe for want of a free slot (redis://cache:6379/0 has no client slot left (max number of "
        "clients reached)): planned from the 300 connections this run's gateways hold, which their new pools give back"]


def test_a_server_full_of_other_clients_fails_with_the_probes_reason():
    full = {"reachable": False, "saturated": True, "connections_available": 0,
            "error": "postgresql://db:5432/mcp has no connection slot left (FATAL: too many clients): raise "
                     "max_connections"}
    with pytest.raises(PlanError, match=r"PostgreSQL refused the probe for want of a free slot, and the gateways of "
                                        r"this run hold none of its sessions, so a tuning has none to give back: "
                                        r"postgresql://db:5432/mcp has no connection slot left .*raise max_connections"):
        plan(capacity=HOSTS["2 x 8 GiB"], postgres=full)
