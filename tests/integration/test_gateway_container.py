# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway role with gateway_service_manager container, on real Podman and the tests' stand-in
of upstream's image (tests/harness/standin): the install playbook runs the container with its limits
and environment file, a second run changes nothing, the restart policy brings a killed container
back, bad input fails before the serving container is touched, and a new definition that never gets
ready is rolled back to the container that served. Then the same install with Docker (a dockerd of
the test's own): limits, idempotence, its daemon bringing a killed container back, the tune
playbook sizing it (the tune role's Podman flow: tests/integration/test_tune_container.py), and the
benchmark playbook measuring it."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from conftest import COLLECTIONS_ROOT, recap
from harness.container_host import ContainerHost, podman_container_host
from harness.containers import ContainerError, Docker, copy_image
from harness.throwaway import LOOPBACK, free_port

NAME = "mcpgw-role-gateway"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    try:
        with podman_container_host(str(tmp_path_factory.mktemp("container-gateway")), NAME, COLLECTIONS_ROOT) as host:
            yield host
    except ContainerError as reason:
        pytest.skip(str(reason))


def test_runs_the_container_with_its_limits_and_a_second_run_changes_nothing(host):
    first = host.install()
    assert first.returncode == 0, first.stdout[-5000:]
    assert host.ready()
    container = host.inspect()
    config, limits = container["Config"], container["HostConfig"]
    assert limits["NanoCpus"] == 1500000000 and limits["Memory"] == 1024 ** 3
    assert limits["RestartPolicy"]["Name"] == "always"
    assert re.match(r"^[0-9a-f]{16}$", config["Labels"]["io.mcpgateway.tuning.definition"])
    assert any(mount["Name"] == NAME + "-data" and mount["Destination"] == "/app/data" for mount in container["Mounts"])
    # The environment file as engines read it: 0600, no quotes, the secrets generated once and never printed.
    env_file = host.role_vars["gateway_env_file"]
    assert os.stat(env_file).st_mode & 0o777 == 0o600
    with open(env_file) as handle:
        environment = dict(line.split("=", 1) for line in handle.read().splitlines())
    assert environment["HOST"] == "0.0.0.0" and environment["PORT"] == "4444"
    assert environment["DATABASE_URL"] == "sqlite:////app/data/mcp.db" and environment["GUNICORN_WORKERS"] == "2"
    assert len(environment["JWT_SECRET_KEY"]) == 43 and environment["JWT_SECRET_KEY"] not in first.stdout
    assert "JWT_SECRET_KEY=%s" % environment["JWT_SECRET_KEY"] in config["Env"]
    assert not os.path.exists(env_file + ".next")
    # The record the other roles read names the container.
    with open(os.path.join(host.role_vars["mcpgateway_fact_dir"], "mcpgateway.fact")) as handle:
        record = json.load(handle)
    assert record["service_manager"] == "container"
    # The record the tune role creates the container again from, without the install's variables.
    assert record["container"] == {
        "engine": "podman", "name": NAME, "image": host.role_vars["gateway_container_image"], "host": LOOPBACK,
        "port": host.port, "volume": NAME + "-data", "cpus": "1.5", "memory": "1g", "network": "bridge",
        "engine_environment": host.role_vars["gateway_container_engine_environment"]}
    # The tune role's environment file, empty until it writes it, is read after the gateway's.
    tuning_env = os.path.join(host.config_dir, "tuning.env")
    assert os.path.getsize(tuning_env) == 0 and os.stat(tuning_env).st_mode & 0o777 == 0o640
    env_files = [argument for before, argument in zip(config["CreateCommand"], config["CreateCommand"][1:])
                 if before == "--env-file"]
    assert env_files == [env_file + ".next", tuning_env]

    second = host.install()
    assert second.returncode == 0 and recap(second)["changed"] == 0, second.stdout[-5000:]
    assert host.inspect()["Id"] == container["Id"]


def test_check_mode_reports_a_new_definition_and_changes_nothing(host):
    before = host.inspect()
    with open(host.role_vars["gateway_env_file"]) as handle:
        env_before = handle.read()
    checked = host.install("--check", gateway_container_memory="2g")
    assert checked.returncode == 0 and recap(checked)["changed"] >= 1, checked.stdout[-4000:]
    assert host.inspect()["Id"] == before["Id"] and host.inspect()["HostConfig"]["Memory"] == 1024 ** 3
    with open(host.role_vars["gateway_env_file"]) as handle:
        assert handle.read() == env_before
    assert not os.path.exists(host.role_vars["gateway_env_file"] + ".next")


def test_the_restart_policy_brings_a_killed_container_back(host):
    killed, after = host.kill_main_process()
    assert after["Running"] and after["Pid"] not in (killed, 0)
    assert host.wait_ready(90)


@pytest.mark.parametrize("overrides, message", [
    ({"gateway_container_memory": "256m"},
     "gateway_container_memory is '256m' (256 MiB): below the 596 MiB one worker and its master need"),
    ({"gateway_container_cpus": "-1"}, "gateway_container_cpus is '-1', not a number of CPUs such as 1.5"),
    ({"gateway_extra_env": {"BAD NAME": "x"}}, "'BAD NAME' is not an environment variable's name"),
    ({"gateway_container_image": "localhost/mcpgw-no-such-image:1"},
     "The image localhost/mcpgw-no-such-image:1 is not on this host and podman could not pull it"),
    ({"gateway_container_engine_environment": {"PATH": "/nonexistent"}},
     "gateway_container_engine is podman, and \"podman version\" fails on this host"),
    ({"gateway_port": 70000}, "podman refused to create the container"),
    ({"gateway_database_url": "postgresql+psycopg://mcp:s3cret@127.0.0.1:5432/mcp"},
     "gateway_database_url (127.0.0.1) on the host's loopback, which a container on the engine's network"),
])
def test_bad_input_fails_before_the_serving_container_is_touched(host, overrides, message):
    before = host.inspect()
    with open(host.role_vars["gateway_env_file"]) as handle:
        env_before = handle.read()
    completed = host.install(**overrides)
    assert completed.returncode != 0
    assert message in completed.stdout, completed.stdout[-4000:]
    after = host.inspect()
    assert after["Id"] == before["Id"] and after["State"]["Pid"] == before["State"]["Pid"]
    with open(host.role_vars["gateway_env_file"]) as handle:
        assert handle.read() == env_before
    assert host.ready()


def test_a_new_container_that_never_gets_ready_is_rolled_back(host):
    before = host.inspect()
    # A database on the host's loopback that nothing listens on, reached over the host's network: the
    # new container starts, and never answers /ready.
    completed = host.install(gateway_database_url="postgresql+psycopg://mcp:x@%s:%d/mcp" % (LOOPBACK, free_port()),
                             gateway_container_network="host", gateway_ready_timeout=12)
    assert completed.returncode != 0
    assert "did not answer %s/ready within 12 s" % host.url in completed.stdout and \
        "The previous container is back and ready." in completed.stdout, completed.stdout[-5000:]
    after = host.inspect()
    assert after["Id"] == before["Id"] and after["Name"] == NAME and after["State"]["Running"]
    assert host.ready()
    names = host.engine.command("ps", "--all", "--format", "{{.Names}}").split()
    assert not set(host.staged_names) & set(names)
    assert not os.path.exists(host.role_vars["gateway_env_file"] + ".next")

    # A change that works replaces the container: the host's network, where the gateway listens on the
    # address and port it is reached at, nothing published.
    changed = host.install(gateway_container_cpus="1", gateway_container_network="host")
    assert changed.returncode == 0, changed.stdout[-5000:]
    replaced = host.inspect()
    assert replaced["Id"] != before["Id"] and replaced["HostConfig"]["NanoCpus"] == 1000000000
    assert replaced["HostConfig"]["NetworkMode"] == "host" and not replaced["HostConfig"]["PortBindings"]
    assert host.environment()["HOST"] == LOOPBACK and host.environment()["PORT"] == str(host.port)
    assert host.ready() and host.record()["container"]["network"] == "host"


@pytest.fixture(scope="module")
def docker_host(host, tmp_path_factory):
    """The same, with Docker: a dockerd of the test's own (its default bridge publishes the port,
    without iptables rules), the stand-in loaded from Podman."""
    try:
        docker = Docker(networks=True)
    except ContainerError as reason:
        pytest.skip(str(reason))
    try:
        copy_image(host.engine, docker, host.image)
        yield ContainerHost(docker, host.image, str(tmp_path_factory.mktemp("docker-gateway")), NAME, COLLECTIONS_ROOT)
    finally:
        docker.stop()


def test_docker_runs_it_the_same_way_and_its_daemon_brings_it_back(docker_host):
    first = docker_host.install()
    assert first.returncode == 0, first.stdout[-5000:]
    assert docker_host.ready()
    container = docker_host.inspect()
    assert container["HostConfig"]["NanoCpus"] == 1500000000 and container["HostConfig"]["Memory"] == 1024 ** 3
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "always"
    second = docker_host.install()
    assert second.returncode == 0 and recap(second)["changed"] == 0, second.stdout[-5000:]
    assert docker_host.inspect()["Id"] == container["Id"]

    killed, after = docker_host.kill_main_process()
    assert after["Pid"] not in (killed, 0)
    assert docker_host.wait_ready(90)


def test_the_tune_playbook_sizes_a_docker_container_from_its_limits(docker_host):
    """The tune role's container flow with Docker: the image's Gunicorn checks the tuned file in a
    throwaway container, the container is created again with the plan, and a second run leaves it."""
    before = docker_host.inspect()
    reports = os.path.join(docker_host.folder, "reports")
    tuned = docker_host.tune(tune_report_dir=reports, tune_ready_timeout=120)
    assert tuned.returncode == 0, tuned.stdout[-5000:]
    with open(os.path.join(reports, "local-gateway.tune.json")) as handle:
        report = json.load(handle)
    assert report["recreated"] is True
    assert report["capacity"]["cpu_binding"] == "container CPU limit 1.5 (docker --cpus)"
    assert report["capacity"]["memory_binding"] == "container memory limit 1024 MiB (docker --memory)"
    after = docker_host.inspect()
    assert after["Id"] != before["Id"] and docker_host.ready()
    assert docker_host.environment()["GUNICORN_WORKERS"] == str(report["settings"]["workers"])
    assert any(mount["Destination"] == "/app/gunicorn.config.py" and mount["RW"] is False for mount in after["Mounts"])
    again = docker_host.tune(tune_report_dir=reports)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-5000:]
    assert docker_host.inspect()["Id"] == after["Id"]


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")
def test_the_benchmark_playbook_measures_the_docker_container(docker_host):
    """The benchmark role with Docker: the token minted in the container, the load on its published port,
    the watch on its main process and its json-file log."""
    reports = os.path.join(docker_host.folder, "benchmark-reports")
    completed = docker_host.playbook("benchmark", {
        "mcpgateway_fact_dir": docker_host.fact_dir, "benchmark_report_dir": reports, "benchmark_runs": 1,
        "benchmark_requests": 100, "benchmark_concurrency": 10, "benchmark_warmup_requests": 30,
        "benchmark_warmup_rounds": 1})
    assert completed.returncode == 0, completed.stdout[-5000:]
    with open(os.path.join(reports, "local-gateway.benchmark.json")) as handle:
        phase = json.load(handle)["phases"]["now"]
    assert phase["status_codes"] == {"200": 100} and phase["errors"] == 0
    assert 50 < phase["peak_memory_mib"] < 1024 and phase["oom_kills"] == 0 and phase["main_process_exits"] == 0
    assert phase["log_signs"] is not None and phase["log_signs"]["refused"] == 0
