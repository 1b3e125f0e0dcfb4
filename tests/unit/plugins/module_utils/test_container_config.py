# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_config over the inspect outputs of real engines (Podman 4.3.1 and Docker 20.10,
recorded on the test machine and cut to the keys read)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import container_config

# podman create --cpus 1.5 --memory 1g, stopped: Podman writes --cpus as NanoCpus and as CpuQuota/CpuPeriod.
PODMAN_STOPPED = json.dumps([{
    "Id": "2d58ce958e58a7d808d17fef2df87513e384b68549cafdc41b97e583f182808d", "Name": "captest",
    "ImageName": "localhost/mcpgw-busybox:test", "Config": {"Image": "localhost/mcpgw-busybox:test"},
    "State": {"Status": "exited", "Running": False, "Pid": 0},
    "HostConfig": {"NanoCpus": 1500000000, "CpuQuota": 150000, "CpuPeriod": 100000, "CpusetCpus": "",
                   "Memory": 1073741824}}])
# docker run --cpuset-cpus 0, running: Docker's names start with "/".
DOCKER_PINNED = json.dumps([{
    "Id": "6d95fdeec159a2788c0cfa15701273543f16f9160632e883840d3d6bf05e4069", "Name": "/dset",
    "Image": "sha256:c9cd2f73174e46623f53342cbc163d681e9b31977a30a08638aa7ec960cf912a",
    "Config": {"Image": "mcpgw-busybox:test"}, "State": {"Status": "running", "Running": True, "Pid": 17438},
    "HostConfig": {"NanoCpus": 0, "CpuQuota": 0, "CpuPeriod": 0, "CpusetCpus": "0", "Memory": 0}}])


def test_a_stopped_podman_container_keeps_its_configured_limits():
    container = container_config.parse_inspect(PODMAN_STOPPED, "podman")
    assert container["name"] == "captest" and container["image"] == "localhost/mcpgw-busybox:test"
    assert container["running"] is False and container["pid"] is None and container["status"] == "exited"
    # --cpus once, from NanoCpus, not again as the quota Podman derived from it.
    assert container["cpu_limits"] == [{"source": "container CPU limit 1.5 (podman --cpus)", "cgroup": None,
                                        "cpus": 1.5}]
    assert container["memory_limits"] == [{"source": "container memory limit 1024 MiB (podman --memory)",
                                           "cgroup": None, "bytes": 1073741824, "fs_path": None}]


def test_a_running_docker_container_with_a_cpu_set():
    container = container_config.parse_inspect(DOCKER_PINNED, "docker")
    assert container["name"] == "dset" and container["image"] == "mcpgw-busybox:test"
    assert container["running"] is True and container["pid"] == 17438
    assert container["cpu_limits"] == [{"source": "container CPU set 0 (docker --cpuset-cpus)", "cgroup": None,
                                        "cpus": 1.0, "cpu_list": [0]}]
    assert container["memory_limits"] == []


def test_a_quota_without_nano_cpus_and_a_default_period():
    document = json.loads(DOCKER_PINNED)
    document[0]["HostConfig"].update(CpuQuota=50000, CpuPeriod=0, CpusetCpus="")
    (limit,) = container_config.parse_inspect(json.dumps(document), "docker")["cpu_limits"]
    assert limit["cpus"] == 0.5 and limit["source"] == "container CPU limit 0.5 (docker --cpu-quota/--cpu-period)"


@pytest.mark.parametrize("text, message", [
    ("not json", "docker container inspect did not write JSON"),
    ("[]", "docker container inspect wrote 0 entries, not one container"),
    ('"text"', "docker container inspect wrote str, not one container"),
])
def test_output_that_is_not_one_container_is_refused(text, message):
    with pytest.raises(container_config.ContainerConfigError, match=message):
        container_config.parse_inspect(text, "docker")


def test_null_and_odd_numbers_count_as_no_limit():
    document = json.loads(DOCKER_PINNED)
    document[0]["HostConfig"] = {"NanoCpus": None, "CpuQuota": True, "Memory": "1g"}
    container = container_config.parse_inspect(json.dumps(document), "docker")
    assert container["cpu_limits"] == [] and container["memory_limits"] == []


@pytest.mark.parametrize("choice, installed, engines", [
    ("auto", {"podman", "docker"}, ["podman", "docker"]),
    ("auto", {"docker"}, ["docker"]),
    ("docker", {"podman", "docker"}, ["docker"]),
])
def test_the_engines_asked(choice, installed, engines):
    assert container_config.engines_to_try(choice, installed) == engines


@pytest.mark.parametrize("choice, installed, message", [
    ("auto", set(), "container_engine=auto found neither podman nor docker"),
    ("docker", {"podman"}, "container_engine=docker, and docker is not installed on this host"),
])
def test_a_missing_engine_is_named(choice, installed, message):
    with pytest.raises(container_config.ContainerConfigError, match=message):
        container_config.engines_to_try(choice, installed)


def test_new_limits_replace_the_configured_ones_and_keep_the_cpu_set():
    running = container_config.parse_inspect(DOCKER_PINNED, "docker")
    resized = container_config.with_new_limits(running, 0.5, 768 * 1024 * 1024)
    # Read as a container that is not running yet: its present cgroup says the old limits.
    assert resized["pid"] is None and resized["name"] == "dset"
    assert resized["cpu_limits"] == [
        {"source": "container CPU limit 0.5 (docker --cpus)", "cgroup": None, "cpus": 0.5},
        {"source": "container CPU set 0 (docker --cpuset-cpus)", "cgroup": None, "cpus": 1.0, "cpu_list": [0]}]
    assert resized["memory_limits"] == [{"source": "container memory limit 768 MiB (docker --memory)",
                                         "cgroup": None, "bytes": 768 * 1024 * 1024, "fs_path": None}]
    unlimited = container_config.with_new_limits(container_config.parse_inspect(PODMAN_STOPPED, "podman"), None, None)
    assert unlimited["cpu_limits"] == [] and unlimited["memory_limits"] == []


@pytest.mark.parametrize("cpus, memory_bytes, message", [
    (0, None, "container_limits.cpus is 0: give a number of CPUs above 0"),
    (None, -1, "container_limits.memory_bytes is -1: give a number of bytes above 0"),
])
def test_new_limits_out_of_range_are_refused(cpus, memory_bytes, message):
    with pytest.raises(container_config.ContainerConfigError, match=message):
        container_config.with_new_limits(container_config.parse_inspect(PODMAN_STOPPED, "podman"), cpus, memory_bytes)
