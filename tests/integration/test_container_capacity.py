# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""capacity_info on real Podman and Docker containers (tests/harness/containers.py): inside them
nproc and /proc/meminfo show the host, the module must report the limits they were created with
and name the engine's option that binds; a stopped container keeps its configured limits; an
unknown container, or no engine, is an error that names both; the probe playbook reports a
container's capacity with mcpgateway_container."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from harness.containers import ContainerError, Docker, Podman

MIB = 1024 * 1024


def host_memory_mib():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def start_engine(engine_class):
    try:
        engine = engine_class()
    except ContainerError as reason:
        pytest.skip(str(reason))
    engine.import_busybox()
    engine.run("mcpgw-limited", "--cpus", "1.5", "--memory", "1g")
    engine.run("mcpgw-pinned", "--cpuset-cpus", "0")
    engine.run("mcpgw-quota", "--cpu-quota", "50000", "--cpu-period", "100000")
    engine.run("mcpgw-stopped", "--cpus", "1", "--memory", "512m", start=False)
    return engine


@pytest.fixture(scope="module", params=[Podman, Docker], ids=["podman", "docker"])
def engine(request):
    engine = start_engine(request.param)
    yield engine
    engine.stop()


def container_pid(engine, name):
    return json.loads(engine.command("container", "inspect", name))[0]["State"]["Pid"]


def test_the_container_limits_bind_and_are_named_with_the_engines_options(engine, run_cases):
    names = ("mcpgw-limited", "mcpgw-pinned", "mcpgw-quota", "mcpgw-stopped")
    limited, pinned, quota, stopped = run_cases(
        [("capacity_info", {"container": name, "container_engine": engine.name}) for name in names],
        environment=engine.env)
    for result in (limited, pinned, quota, stopped):
        assert not result.get("failed"), result.get("msg")
        assert result["scope"] == "container" and result["container"]["engine"] == engine.name

    # --cpus 1.5 --memory 1g: read from the engine, and the container's own cgroup says the same.
    assert limited["cpu"]["effective"] == 1.5 and limited["cpu"]["effective_int"] == 1
    assert limited["cpu"]["binding"] == "container CPU limit 1.5 (%s --cpus)" % engine.name
    assert limited["memory"]["effective_mib"] == 1024
    assert limited["memory"]["binding"] == "container memory limit 1024 MiB (%s --memory)" % engine.name
    assert limited["container"]["running"] is True and limited["pid"] == container_pid(engine, "mcpgw-limited")
    assert any(limit["source"].startswith("cgroup") and limit["cpus"] == 1.5 for limit in limited["cpu"]["limits"])
    assert any(limit["source"].startswith("cgroup") and limit["bytes"] == 1024 * MIB
               for limit in limited["memory"]["limits"])

    # --cpuset-cpus 0: one CPU, and no memory limit but the host's.
    assert pinned["cpu"]["effective"] == 1.0
    assert pinned["cpu"]["binding"] == "container CPU set 0 (%s --cpuset-cpus)" % engine.name
    assert pinned["memory"]["binding"] == "none" and pinned["memory"]["effective_mib"] == host_memory_mib()

    assert quota["cpu"]["effective"] == 0.5
    assert quota["cpu"]["binding"].startswith("container CPU limit 0.5 (%s --cpu" % engine.name)

    # Never started: its configured limits, no process.
    assert stopped["container"]["running"] is False and stopped["pid"] is None
    assert stopped["cpu"]["effective"] == 1.0
    assert stopped["memory"]["binding"] == "container memory limit 512 MiB (%s --memory)" % engine.name


def test_an_unknown_container_or_a_missing_engine_is_named(engine, run_cases, tmp_path):
    unknown, = run_cases([("capacity_info", {"container": "mcpgw-no-such", "container_engine": engine.name})],
                         environment=engine.env)
    assert unknown["failed"] and unknown["msg"].startswith(
        "no container mcpgw-no-such is known to %s (%s: " % (engine.name, engine.name)), unknown["msg"]
    # A PATH with no engine on it (the module looks in /sbin, /usr/sbin and /usr/local/sbin too,
    # where neither engine's client is).
    empty = tmp_path / "no-engine"
    empty.mkdir()
    auto, named = run_cases([("capacity_info", {"container": "mcpgw-limited"}),
                             ("capacity_info", {"container": "mcpgw-limited", "container_engine": engine.name})],
                            environment=dict(engine.env, PATH=str(empty)))
    assert auto["failed"] and auto["msg"].startswith("container_engine=auto found neither podman nor docker")
    assert named["failed"] and named["msg"].startswith(
        "container_engine=%s, and %s is not installed on this host" % (engine.name, engine.name))


def test_auto_finds_the_container_in_the_engine_that_has_it(engine, run_cases):
    # Both engines are asked, Podman first: Docker's container is found after Podman knows none.
    environment = dict(engine.env)
    environment.pop("CONTAINERS_CONF" if engine.name == "docker" else "DOCKER_HOST", None)
    found, = run_cases([("capacity_info", {"container": "mcpgw-limited"})], environment=environment)
    assert not found.get("failed"), found.get("msg")
    assert found["container"]["engine"] == engine.name and found["container"]["name"] == "mcpgw-limited"
    assert os.path.exists("/proc/%d" % found["pid"])


def test_the_probe_playbook_reports_the_containers_capacity(engine, ansible_env, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("mcpgateway:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: %s\n" % sys.executable)
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
         "-e", json.dumps({"mcpgateway_container": "mcpgw-limited", "mcpgateway_container_engine": engine.name}),
         "mcpgateway.tuning.probe"], env=dict(ansible_env, **engine.env), capture_output=True, text=True,
        timeout=300, check=False)

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    output = completed.stdout
    assert "localhost: capacity of %s container mcpgw-limited (running, cgroup" % engine.name in output
    assert re.search(r"CPU       1\.5 usable \(1 rounded down, 2 up\), of \d+ online; limit: container CPU limit 1\.5 "
                     r"\(%s --cpus\)" % engine.name, output), output[-3000:]
    assert "Memory    1024 MiB usable of" in output
    assert "limit: container memory limit 1024 MiB (%s --memory)" % engine.name in output
