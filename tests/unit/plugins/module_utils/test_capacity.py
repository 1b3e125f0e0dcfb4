# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity detection over /proc and /sys trees laid out as the kernel shapes them."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import capacity

GIB = 1024 ** 3
MIB = 1024 ** 2
V1_UNLIMITED = "9223372036854771712"

MEMINFO_24G = "MemTotal:       24684092 kB\nMemFree:        20000000 kB\nMemAvailable:   24444564 kB\n"
MEMINFO_8G = "MemTotal:        8388608 kB\nMemFree:         4000000 kB\nMemAvailable:    6291456 kB\n"

# A cgroup v1 hybrid host like the project's test machine: v1 controllers plus an
# empty cgroup2 mount at /sys/fs/cgroup/unified.
MOUNTINFO_V1_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

MOUNTINFO_V2 = """\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""


def lay_out(tmp_path, files):
    """Write {absolute path: text} below tmp_path and return it as the filesystem root."""
    for path, text in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(tmp_path)


def host(cpus="0-1", meminfo=MEMINFO_24G, status_cpus=None, pid="self", cgroup="0::/\n", mountinfo=MOUNTINFO_V2):
    return {
        "/sys/devices/system/cpu/online": cpus + "\n",
        "/proc/meminfo": meminfo,
        "/proc/%s/status" % pid: "Name:\tpython\nCpus_allowed_list:\t%s\n" % (status_cpus or cpus),
        "/proc/%s/cgroup" % pid: cgroup,
        # Mounts are always the reader's own.
        "/proc/self/mountinfo": mountinfo,
    }


# ------------------------------------------------------------------- cgroup v1


def test_v1_host_without_limits_reports_host_capacity_and_treats_sentinel_as_unlimited(tmp_path):
    files = host(cgroup="4:memory:/process_api/c45e\n3:cpuset:/\n1:cpu:/\n2:cpuacct:/\n0::/\n",
                 mountinfo=MOUNTINFO_V1_HYBRID)
    files.update({
        "/sys/fs/cgroup/memory/process_api/c45e/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["scope"] == "process"
    assert result["cgroup"]["version"] == "hybrid"
    assert result["cgroup"]["v1_paths"]["memory"] == "/process_api/c45e"
    cpu = result["cpu"]
    assert (cpu["logical"], cpu["affinity"], cpu["quota"]) == (2, 2, None)
    assert (cpu["effective"], cpu["effective_int"], cpu["effective_ceil"]) == (2.0, 2, 2)
    assert cpu["binding"] == "none"
    memory = result["memory"]
    assert memory["total_bytes"] == 24684092 * 1024
    assert memory["available_bytes"] == 24444564 * 1024
    assert memory["limit_bytes"] is None
    assert memory["effective_bytes"] == 24684092 * 1024
    assert memory["binding"] == "none"
    assert memory["limits"] == []


def test_v1_nested_quota_and_memory_limit_of_a_small_vm(tmp_path):
    # A machine booted in a cgroup of 1.5 CPUs and 1.5 GiB: meminfo and nproc show the host.
    files = host(cgroup="4:memory:/machine/vm1\n1:cpu,cpuacct:/machine/vm1\n3:cpuset:/\n",
                 mountinfo=MOUNTINFO_V1_HYBRID.replace("0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
                                                       "0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct"))
    files.update({
        "/sys/fs/cgroup/cpu/machine/vm1/cpu.cfs_quota_us": "150000\n",
        "/sys/fs/cgroup/cpu/machine/vm1/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu/machine/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/machine/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/memory/machine/vm1/memory.limit_in_bytes": str(3 * GIB // 2),
        "/sys/fs/cgroup/memory/machine/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED,
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    cpu = result["cpu"]
    assert cpu["quota"] == 1.5
    assert (cpu["effective"], cpu["effective_int"], cpu["effective_ceil"]) == (1.5, 1, 2)
    assert cpu["binding"] == "cgroup v1 cpu.cfs_quota_us at /machine/vm1"
    memory = result["memory"]
    assert memory["effective_bytes"] == 3 * GIB // 2
    assert memory["effective_mib"] == 1536
    assert memory["binding"] == "cgroup v1 memory.limit_in_bytes at /machine/vm1"


def test_v1_tighter_ancestor_binds_over_the_leaf(tmp_path):
    files = host(cgroup="4:memory:/machine/vm1/app\n1:cpu:/machine/vm1/app\n", mountinfo=MOUNTINFO_V1_HYBRID)
    files.update({
        "/sys/fs/cgroup/cpu/machine/vm1/app/cpu.cfs_quota_us": "300000\n",
        "/sys/fs/cgroup/cpu/machine/vm1/app/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu/machine/cpu.cfs_quota_us": "50000\n",
        "/sys/fs/cgroup/cpu/machine/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/memory/machine/vm1/app/memory.limit_in_bytes": str(4 * GIB),
        "/sys/fs/cgroup/memory/machine/vm1/memory.limit_in_bytes": str(2 * GIB),
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["effective"] == 0.5
    assert result["cpu"]["effective_int"] == 1
    assert result["cpu"]["binding"] == "cgroup v1 cpu.cfs_quota_us at /machine"
    assert [limit["cpus"] for limit in result["cpu"]["limits"]] == [3.0, 0.5, 2.0]
    assert result["memory"]["effective_bytes"] == 2 * GIB
    assert result["memory"]["binding"] == "cgroup v1 memory.limit_in_bytes at /machine/vm1"


def test_v1_hierarchical_memory_limit_covers_ancestors_hidden_from_the_mount(tmp_path):
    # Inside a container the mount root is the container's own cgroup: the parent is invisible,
    # but memory.stat carries the limit inherited from it.
    mountinfo = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
    files = host(cgroup="4:memory:/docker/abc\n", mountinfo=mountinfo)
    files.update({
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/memory/memory.stat": "cache 100\nhierarchical_memory_limit %d\ntotal_inactive_file 0\n" % GIB,
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["memory"]["effective_bytes"] == GIB
    assert result["memory"]["binding"] == "cgroup v1 hierarchical_memory_limit at /docker/abc"


def test_a_containers_process_seen_from_the_host_is_read_in_the_hosts_mounts(tmp_path):
    # podman run --cpus 1.5 --memory 1g: the process's own mount namespace mounts its cgroup as the
    # root of each hierarchy. Read through its mountinfo, the host's root cgroup (no limit) would be
    # taken for the container's; the host's mounts lead to the container's folder.
    container = "/libpod_parent/libpod-2d58"
    files = host(cpus="0-1", pid="4321", cgroup="4:memory:%s\n3:cpuset:%s\n1:cpu:%s\n0::%s\n" % ((container,) * 4),
                 mountinfo=MOUNTINFO_V1_HYBRID)
    files["/proc/4321/mountinfo"] = "35 31 0:32 %s /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n" % container
    files.update({
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED,
        "/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % container: str(GIB),
        "/sys/fs/cgroup/cpu%s/cpu.cfs_quota_us" % container: "150000",
        "/sys/fs/cgroup/cpu%s/cpu.cfs_period_us" % container: "100000",
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), pid=4321)

    assert result["cpu"]["effective"] == 1.5
    assert result["cpu"]["binding"] == "cgroup v1 cpu.cfs_quota_us at %s" % container
    assert result["memory"]["effective_bytes"] == GIB
    assert result["memory"]["binding"] == "cgroup v1 memory.limit_in_bytes at %s" % container


def test_a_stopped_container_has_its_configured_limits_within_the_hosts(tmp_path):
    # The host's init is in a slice limited to 1 CPU; the container was created with --cpus 1.5 --memory 1g.
    files = host(cpus="0-3", pid="1", cgroup="0::/init.scope\n")
    files.update({"/sys/fs/cgroup/cpu.max": "100000 100000\n"})
    container = {"pid": None, "cpu_limits": [{"source": "container CPU limit 1.5 (podman --cpus)", "cgroup": None,
                                              "cpus": 1.5}],
                 "memory_limits": [{"source": "container memory limit 1024 MiB (podman --memory)", "cgroup": None,
                                    "bytes": GIB, "fs_path": None}]}
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), container=container)

    assert result["scope"] == "container" and result["pid"] is None
    assert result["cpu"]["effective"] == 1.0 and result["cpu"]["binding"] == "cgroup v2 cpu.max at /"
    assert result["memory"]["effective_bytes"] == GIB
    assert result["memory"]["binding"] == "container memory limit 1024 MiB (podman --memory)"


def test_limit_at_or_above_memtotal_means_unlimited(tmp_path):
    files = host(meminfo=MEMINFO_8G, cgroup="0::/app.slice\n")
    files.update({"/sys/fs/cgroup/app.slice/memory.max": str(16 * GIB)})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["memory"]["effective_bytes"] == 8 * GIB
    assert result["memory"]["limit_bytes"] is None
    assert result["memory"]["binding"] == "none"


# ------------------------------------------------------------------- cgroup v2


def test_v2_nested_max_leaf_under_limited_parent(tmp_path):
    files = host(cpus="0-15", cgroup="0::/system.slice/mcpgateway.service\n")
    files.update({
        "/sys/fs/cgroup/system.slice/mcpgateway.service/cpu.max": "max 100000\n",
        "/sys/fs/cgroup/system.slice/cpu.max": "400000 100000\n",
        "/sys/fs/cgroup/system.slice/mcpgateway.service/memory.max": "max\n",
        "/sys/fs/cgroup/system.slice/memory.max": str(6 * GIB),
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cgroup"]["version"] == "v2"
    assert result["cgroup"]["v2_path"] == "/system.slice/mcpgateway.service"
    assert result["cpu"]["logical"] == 16
    assert result["cpu"]["effective"] == 4.0
    assert result["cpu"]["binding"] == "cgroup v2 cpu.max at /system.slice"
    assert result["memory"]["effective_bytes"] == 6 * GIB
    assert result["memory"]["binding"] == "cgroup v2 memory.max at /system.slice"


def test_v2_fractional_quota_and_memory_high_below_memory_max(tmp_path):
    files = host(cpus="0-7", meminfo=MEMINFO_8G, cgroup="0::/app\n")
    files.update({
        "/sys/fs/cgroup/app/cpu.max": "150000 100000\n",
        "/sys/fs/cgroup/app/memory.max": str(2 * GIB),
        "/sys/fs/cgroup/app/memory.high": str(1536 * MIB),
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert (result["cpu"]["effective"], result["cpu"]["effective_int"], result["cpu"]["effective_ceil"]) == (1.5, 1, 2)
    assert result["cpu"]["quota"] == 1.5
    assert result["memory"]["effective_bytes"] == 1536 * MIB
    assert result["memory"]["binding"] == "cgroup v2 memory.high at /app"
    assert sorted(limit["source"] for limit in result["memory"]["limits"]) == [
        "cgroup v2 memory.high", "cgroup v2 memory.max"]


def test_v2_quota_without_period_and_rounding_slack(tmp_path):
    files = host(cpus="0-7", cgroup="0::/a\n")
    files.update({"/sys/fs/cgroup/a/cpu.max": "199900\n"})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["effective"] == 1.999
    assert result["cpu"]["effective_int"] == 2
    assert result["cpu"]["effective_ceil"] == 2


def test_cpuset_affinity_0_1_4(tmp_path):
    files = host(cpus="0-7", status_cpus="0-1,4", cgroup="0::/\n")
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["affinity"] == 3
    assert result["cpu"]["affinity_list"] == [0, 1, 4]
    assert result["cpu"]["effective"] == 3.0
    assert result["cpu"]["binding"] == "CPU affinity"


@pytest.mark.parametrize("cgroup, files, mountinfo, binding", [
    ("3:cpuset:/docker/c0ffee\n0::/\n", {"/sys/fs/cgroup/cpuset/docker/c0ffee/cpuset.effective_cpus": "2-3\n"},
     MOUNTINFO_V1_HYBRID, "cgroup v1 cpuset.effective_cpus at /docker/c0ffee"),
    ("0::/system.slice/gw.service\n", {"/sys/fs/cgroup/system.slice/gw.service/cpuset.cpus.effective": "2-3\n"},
     MOUNTINFO_V2, "cgroup v2 cpuset.cpus.effective at /system.slice/gw.service"),
])
def test_an_affinity_that_follows_a_cpuset_names_the_cpuset(tmp_path, cgroup, files, mountinfo, binding):
    # docker --cpuset-cpus 2-3: the kernel gives the process the cpuset's CPUs as its affinity.
    layout = host(cpus="0-7", status_cpus="2-3", cgroup=cgroup, mountinfo=mountinfo)
    layout.update(files)
    result = capacity.detect_capacity(root=lay_out(tmp_path, layout))

    assert result["cpu"]["effective"] == 2.0
    assert result["cpu"]["binding"] == binding


def test_an_affinity_narrower_than_its_cpuset_is_named_affinity(tmp_path):
    layout = host(cpus="0-7", status_cpus="3", cgroup="0::/system.slice/gw.service\n")
    layout["/sys/fs/cgroup/system.slice/gw.service/cpuset.cpus.effective"] = "2-3\n"
    result = capacity.detect_capacity(root=lay_out(tmp_path, layout))

    assert result["cpu"]["effective"] == 1.0
    assert result["cpu"]["binding"] == "CPU affinity"


def test_affinity_below_quota_binds(tmp_path):
    files = host(cpus="0-7", status_cpus="2", cgroup="0::/a\n")
    files.update({"/sys/fs/cgroup/a/cpu.max": "400000 100000\n"})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["effective"] == 1.0
    assert result["cpu"]["binding"] == "CPU affinity"


def test_namespaced_cgroup_mount_reads_files_at_the_mount_point(tmp_path):
    mountinfo = "35 24 0:30 /kubepods/pod1/ctr /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    files = host(cpus="0-31", cgroup="0::/kubepods/pod1/ctr\n", mountinfo=mountinfo)
    files.update({"/sys/fs/cgroup/cpu.max": "250000 100000\n", "/sys/fs/cgroup/memory.max": str(GIB)})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["effective"] == 2.5
    assert result["cpu"]["binding"] == "cgroup v2 cpu.max at /kubepods/pod1/ctr"
    assert result["memory"]["effective_bytes"] == GIB


def test_cgroup_path_escaping_the_mount_root_falls_back_to_the_mount_point(tmp_path):
    mountinfo = "35 24 0:30 /ctr /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    files = host(cgroup="0::/elsewhere\n", mountinfo=mountinfo)
    files.update({"/sys/fs/cgroup/cpu.max": "100000 100000\n"})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    assert result["cpu"]["effective"] == 1.0
    assert result["cpu"]["binding"] == "cgroup v2 cpu.max at /ctr"


def test_available_memory_is_bounded_by_the_binding_cgroup_working_set(tmp_path):
    files = host(cgroup="0::/app\n")
    files.update({
        "/sys/fs/cgroup/app/memory.max": str(2 * GIB),
        "/sys/fs/cgroup/app/memory.current": str(1536 * MIB),
        "/sys/fs/cgroup/app/memory.stat": "anon 1000\ninactive_file %d\n" % (512 * MIB),
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files))

    # 2 GiB limit - (1.5 GiB used - 0.5 GiB reclaimable cache) = 1 GiB free for new use.
    assert result["memory"]["available_effective_bytes"] == GIB


def test_pid_scope_reads_that_process(tmp_path):
    files = host(cpus="0-3", pid="4242", status_cpus="3", cgroup="0::/job\n")
    files["/proc/self/mountinfo"] = MOUNTINFO_V2
    files.update({"/sys/fs/cgroup/job/memory.max": str(GIB)})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), pid=4242)

    assert result["scope"] == "pid"
    assert result["pid"] == 4242
    assert result["cpu"]["effective"] == 1.0
    assert result["memory"]["effective_bytes"] == GIB


def test_missing_process_is_a_clear_error(tmp_path):
    root = lay_out(tmp_path, host())
    with pytest.raises(capacity.CapacityError, match="no process 999"):
        capacity.detect_capacity(root=root, pid=999)


# ---------------------------------------------------------------- systemd unit


UNIT_STOPPED = {
    "LoadState": "loaded", "ActiveState": "inactive", "MainPID": "0", "ControlGroup": "",
    "Slice": "system.slice", "CPUQuotaPerSecUSec": "1.500000s", "AllowedCPUs": "",
    "CPUAffinity": "", "MemoryMax": str(300 * MIB), "MemoryHigh": "infinity", "MemoryLimit": "infinity",
}


def test_stopped_unit_uses_its_future_cgroup_and_its_properties(tmp_path):
    files = host(cpus="0-3", cgroup="0::/user.slice/user-0.slice/session-3.scope\n")
    files.update({
        # The unit's own folder does not exist while it is stopped; its slice's does.
        "/sys/fs/cgroup/system.slice/memory.max": str(4 * GIB),
        "/sys/fs/cgroup/system.slice/cpuset.cpus.effective": "0-2\n",
    })
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), unit="mcpgateway.service",
                                      unit_properties=UNIT_STOPPED)

    assert result["scope"] == "unit"
    assert result["pid"] is None
    assert result["cgroup"]["v2_path"] == "/system.slice/mcpgateway.service"
    assert result["cpu"]["affinity"] is None
    assert result["cpu"]["quota"] == 1.5
    assert result["cpu"]["effective"] == 1.5
    assert result["cpu"]["binding"] == "systemd CPUQuota="
    assert {"source": "cgroup v2 cpuset.cpus.effective", "cgroup": "/system.slice", "cpus": 3.0,
            "cpu_list": [0, 1, 2]} in result["cpu"]["limits"]
    assert result["memory"]["effective_bytes"] == 300 * MIB
    assert result["memory"]["binding"] == "systemd MemoryMax="


def test_stopped_unit_allowed_cpus_and_slice_limit(tmp_path):
    properties = dict(UNIT_STOPPED, CPUQuotaPerSecUSec="infinity", AllowedCPUs="1", MemoryMax="infinity",
                      Slice="gateway-tuned.slice")
    files = host(cpus="0-3")
    files.update({"/sys/fs/cgroup/gateway.slice/gateway-tuned.slice/memory.high": str(GIB)})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), unit="gw.service",
                                      unit_properties=properties)

    assert result["cgroup"]["v2_path"] == "/gateway.slice/gateway-tuned.slice/gw.service"
    assert result["cpu"]["effective"] == 1.0
    assert result["cpu"]["binding"] == "systemd AllowedCPUs="
    assert result["memory"]["effective_bytes"] == GIB
    assert result["memory"]["binding"] == "cgroup v2 memory.high at /gateway.slice/gateway-tuned.slice"


def test_running_unit_reads_its_main_process(tmp_path):
    properties = dict(UNIT_STOPPED, ActiveState="active", MainPID="777",
                      ControlGroup="/system.slice/mcpgateway.service", CPUQuotaPerSecUSec="infinity")
    files = host(cpus="0-3", pid="777", status_cpus="0-1", cgroup="0::/system.slice/mcpgateway.service\n")
    files["/proc/self/mountinfo"] = MOUNTINFO_V2
    files.update({"/sys/fs/cgroup/system.slice/mcpgateway.service/memory.max": str(200 * MIB)})
    result = capacity.detect_capacity(root=lay_out(tmp_path, files), unit="mcpgateway.service",
                                      unit_properties=properties)

    assert result["pid"] == 777
    assert result["cpu"]["affinity"] == 2
    assert result["cpu"]["effective"] == 2.0
    assert result["memory"]["effective_bytes"] == 200 * MIB
    assert result["memory"]["binding"] == "cgroup v2 memory.max at /system.slice/mcpgateway.service"
