# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""capacity_info through Ansible on this machine, and inside real kernel-enforced cgroups."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from harness.cgroups import CgroupUnavailable, LimitedCgroup

GIB = 1024 ** 3


def meminfo_bytes(key):
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("%s missing from /proc/meminfo" % key)


@pytest.mark.parametrize("with_psutil", [True, False], ids=["psutil", "proc-only"])
def test_localhost_agrees_with_sched_getaffinity_and_meminfo(run_module, bare_python, with_psutil):
    run = run_module("capacity_info", interpreter=None if with_psutil else bare_python)
    result = run.result

    assert run.rc == 0, run.output
    assert result["changed"] is False
    assert result["scope"] == "process"
    assert result["cpu"]["affinity"] == len(os.sched_getaffinity(0))
    assert result["cpu"]["affinity_list"] == sorted(os.sched_getaffinity(0))
    assert result["cpu"]["logical"] == os.cpu_count()
    assert result["memory"]["total_bytes"] == meminfo_bytes("MemTotal")
    # MemAvailable moves while the test runs: within 5 % of what this process reads.
    assert abs(result["memory"]["available_bytes"] - meminfo_bytes("MemAvailable")) < meminfo_bytes("MemTotal") / 20
    assert result["cpu"]["effective"] <= len(os.sched_getaffinity(0))
    assert result["memory"]["effective_bytes"] <= meminfo_bytes("MemTotal")


def test_check_mode_reports_the_same(run_module):
    normal = run_module("capacity_info").result
    checked = run_module("capacity_info", check=True).result

    assert checked["cpu"] == normal["cpu"]
    assert checked["memory"]["effective_bytes"] == normal["memory"]["effective_bytes"]


@pytest.fixture
def small_vm_cgroup():
    """1.5 CPUs and 1.5 GiB, enforced by the kernel, while meminfo and nproc show the host."""
    cgroup = LimitedCgroup("mcpgw-test-%s" % uuid.uuid4().hex[:8], cpus=1.5, memory_bytes=3 * GIB // 2)
    try:
        cgroup.create()
    except CgroupUnavailable as error:
        pytest.skip(str(error))
    try:
        yield cgroup
    finally:
        cgroup.remove()


def test_module_inside_a_limited_cgroup_reports_the_limits_not_the_host(run_module, small_vm_cgroup):
    run = run_module("capacity_info", wrap=small_vm_cgroup.wrap)
    result = run.result

    assert run.rc == 0, run.output
    paths = small_vm_cgroup.cgroup_paths
    assert result["cpu"]["logical"] == os.cpu_count()
    assert result["cpu"]["quota"] == 1.5
    assert result["cpu"]["effective"] == 1.5
    assert result["cpu"]["effective_int"] == 1
    assert result["cpu"]["binding"] == "cgroup v1 cpu.cfs_quota_us at %s" % paths["cpu"]
    assert result["memory"]["total_bytes"] == meminfo_bytes("MemTotal")
    assert result["memory"]["effective_bytes"] == 3 * GIB // 2
    assert result["memory"]["binding"] == "cgroup v1 memory.limit_in_bytes at %s" % paths["memory"]
    # The limit is enforced, and ansible's own processes in it used part of it.
    assert 0 < result["memory"]["available_effective_bytes"] < 3 * GIB // 2


def test_pid_scope_reads_another_process_in_a_limited_cgroup(run_module, small_vm_cgroup):
    sleeper = subprocess.Popen(small_vm_cgroup.wrap(["sleep", "60"]))
    try:
        run = run_module("capacity_info", {"pid": sleeper.pid})
    finally:
        sleeper.kill()
        sleeper.wait()
    result = run.result

    assert run.rc == 0, run.output
    assert result["scope"] == "pid"
    assert result["pid"] == sleeper.pid
    assert result["cpu"]["effective"] == 1.5
    assert result["memory"]["effective_bytes"] == 3 * GIB // 2


def test_unknown_pid_fails_with_a_clear_message(run_module):
    with open("/proc/sys/kernel/pid_max") as handle:
        unused = int(handle.read()) + 1
    run = run_module("capacity_info", {"pid": unused})

    assert run.failed
    assert "cannot read the capacity: no process %d" % unused in run.result["msg"]


def test_bad_options_fail_with_a_message_naming_them(run_module):
    negative = run_module("capacity_info", {"pid": -4})
    both = run_module("capacity_info", {"pid": 1, "unit": "x.service"})
    word = run_module("capacity_info", {"pid": "four"})

    assert negative.failed and "pid must be 1 to 4194304, got -4" in negative.result["msg"]
    assert both.failed and "mutually exclusive: unit|pid" in both.result["msg"]
    assert word.failed and "pid" in word.result["msg"]


def test_unit_scope_without_a_running_systemd_says_so(run_module):
    with open("/proc/1/comm") as handle:
        init = handle.read().strip()
    if init == "systemd":
        pytest.skip("PID 1 is systemd here; the unit scope is tested on the systemd test machines")
    run = run_module("capacity_info", {"unit": "mcpgateway.service"})

    assert run.failed
    assert "systemd is not running on this host" in run.result["msg"]
    assert "Leave 'unit' out" in run.result["msg"]
