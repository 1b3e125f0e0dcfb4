# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CPU and memory a process or a systemd unit can really use on Linux.

Ansible's facts report the host's CPUs and RAM. A gateway inside a container, a limited
systemd unit or a cgroup of a VM manager gets less: CPU affinity and cpusets restrict the
CPUs it may run on, CFS quotas restrict CPU time, and memory cgroups cap its RAM. This file
combines all of them, for cgroup v1, v2 and hybrid layouts, taking the tightest limit up
the cgroup tree, the way the JDK and gnulib's nproc do (see docs/capacity.md).

Every function reads files below a filesystem ``root`` and nothing else, so unit tests lay
out real-shaped /proc and /sys trees in a temporary folder.
"""

from __future__ import annotations

import math
import os
import posixpath
import re

from ansible_collections.mcpgateway.tuning.plugins.module_utils.cgroup_files import (
    UNLIMITED_THRESHOLD,
    parse_cfs_quota,
    parse_cpu_list,
    parse_cpu_max,
    parse_limit_bytes,
    parse_meminfo,
    parse_memory_stat,
    parse_mountinfo,
    parse_proc_cgroup,
    parse_status_cpus,
    parse_systemd_timespan,
    unit_cgroup_path,
)

# Tolerance for quotas such as 1.999 CPUs that are meant as 2.
CPU_ROUNDING_SLACK = 0.01


class CapacityError(Exception):
    """The capacity of the requested scope cannot be read."""


class FsReader:
    """Reads text files below a root folder; a missing or unreadable file reads as None."""

    def __init__(self, root="/"):
        self.root = root

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path):
        try:
            with open(self.path(path), "r") as handle:
                return handle.read()
        except (IOError, OSError):
            return None

    def exists(self, path):
        return os.path.exists(self.path(path))


# ------------------------------------------------------------------- cgroup layout


def cgroup_dirs(mounts, v2_path, v1_paths, controller):
    """Where the cgroup of a process sits for one controller, as (version, mount, relpath).

    The cgroup path is translated into the mount the way the JDK does: relative to the
    mount's root; if it escapes that root (a moved cgroup, a namespaced mount) the mount
    point itself is used.
    """
    found = []
    for mount in mounts:
        if mount["fstype"] == "cgroup2":
            if v2_path is None:
                continue
            path = v2_path
            version = "v2"
        else:
            if controller not in mount["options"] or controller not in v1_paths:
                continue
            path = v1_paths[controller]
            version = "v1"
        relative = posixpath.relpath(posixpath.normpath(path), mount["root"])
        if relative == ".." or relative.startswith("../"):
            relative = "."
        found.append((version, mount, relative))
    return found


def _walk_up(mount, relative):
    """(cgroup path, filesystem path) from the leaf up to the mount point, leaf first."""
    steps = []
    current = relative
    while True:
        cgroup_path = posixpath.normpath(posixpath.join(mount["root"], current))
        fs_path = posixpath.normpath(posixpath.join(mount["mount_point"], current))
        steps.append((cgroup_path, fs_path))
        if current in (".", ""):
            return steps
        current = posixpath.dirname(current) or "."


def _cgroup_version(mounts):
    kinds = set(mount["fstype"] for mount in mounts)
    v1_controllers = set()
    for mount in mounts:
        if mount["fstype"] == "cgroup":
            v1_controllers.update(option for option in mount["options"] if option in ("cpu", "memory", "cpuset"))
    if "cgroup2" in kinds and v1_controllers:
        return "hybrid"
    if "cgroup2" in kinds:
        return "v2"
    if v1_controllers:
        return "v1"
    return "none"


# ------------------------------------------------------------------------- CPU


def _online_cpus(reader):
    online = parse_cpu_list(reader.read("/sys/devices/system/cpu/online"))
    if online:
        return len(online)
    cpuinfo = reader.read("/proc/cpuinfo") or ""
    count = len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE))
    return count or None


def _nearest_cpuset(reader, mount, relative, file_names):
    """The CPU list of the nearest existing cgroup up the tree (a stopped unit has no dir)."""
    for cgroup_path, fs_path in _walk_up(mount, relative):
        for name in file_names:
            text = reader.read(posixpath.join(fs_path, name))
            if text is not None and text.strip():
                return cgroup_path, name, parse_cpu_list(text)
    return None


def _cpu_limits(reader, mounts, v2_path, v1_paths, affinity, unit_properties, configured):
    """Every CPU limit found, most specific kind first, as dicts with 'cpus' (float): the limits a
    container was created with come first, so that they are named before the cgroup files that
    carry them."""
    limits = list(configured)

    if unit_properties:
        quota = parse_systemd_timespan(unit_properties.get("CPUQuotaPerSecUSec"))
        if quota:
            limits.append({"source": "systemd CPUQuota=", "cgroup": None, "cpus": quota})
        for prop in ("AllowedCPUs", "CPUAffinity"):
            cpus = parse_cpu_list(unit_properties.get(prop))
            if cpus:
                limits.append({"source": "systemd %s=" % prop, "cgroup": None, "cpus": float(len(cpus)),
                               "cpu_list": cpus})

    for version, mount, relative in cgroup_dirs(mounts, v2_path, v1_paths, "cpu"):
        for cgroup_path, fs_path in _walk_up(mount, relative):
            if version == "v2":
                cpus = parse_cpu_max(reader.read(posixpath.join(fs_path, "cpu.max")))
                source = "cgroup v2 cpu.max"
            else:
                cpus = parse_cfs_quota(reader.read(posixpath.join(fs_path, "cpu.cfs_quota_us")),
                                       reader.read(posixpath.join(fs_path, "cpu.cfs_period_us")))
                source = "cgroup v1 cpu.cfs_quota_us"
            if cpus is not None:
                limits.append({"source": source, "cgroup": cgroup_path, "cpus": cpus})

    # The cpuset of the cgroup bounds the CPUs of every process in it (a stopped unit's, before it
    # starts), and the kernel keeps a process's affinity inside it. Listed before the affinity, the
    # cpuset is named as the limit when the affinity only follows it (a container's --cpuset-cpus);
    # the affinity is named when it is narrower (taskset, sched_setaffinity).
    for version, mount, relative in cgroup_dirs(mounts, v2_path, v1_paths, "cpuset"):
        names = ["cpuset.cpus.effective", "cpuset.cpus"] if version == "v2" else ["cpuset.effective_cpus",
                                                                                  "cpuset.cpus"]
        nearest = _nearest_cpuset(reader, mount, relative, names)
        if nearest:
            cgroup_path, name, cpus = nearest
            limits.append({"source": "cgroup %s %s" % (version, name), "cgroup": cgroup_path,
                           "cpus": float(len(cpus)), "cpu_list": cpus})
    if affinity is not None:
        limits.append({"source": "CPU affinity", "cgroup": None, "cpus": float(len(affinity)),
                       "cpu_list": list(affinity)})
    return limits


def effective_cpu(logical, limits):
    """The tightest CPU limit: (float, binding limit or None when nothing is below the host)."""
    effective = float(logical)
    binding = None
    for limit in limits:
        if limit["cpus"] < effective:
            effective = limit["cpus"]
            binding = limit
    return effective, binding


def cpu_as_int(cpus):
    """Whole CPUs for sizing: floor, since each worker above a quota only adds throttling
    (automaxprocs' reasoning), with a small slack so 1.999 counts as 2, and at least 1."""
    return max(1, int(math.floor(cpus + CPU_ROUNDING_SLACK)))


def cpu_ceil(cpus):
    return max(1, int(math.ceil(cpus - CPU_ROUNDING_SLACK)))


# ---------------------------------------------------------------------- memory


def _memory_limits(reader, mounts, v2_path, v1_paths, unit_properties, mem_total, configured):
    """Every memory limit below MemTotal, leaf first (a container's configured limit before all),
    each with its cgroup folder if any."""
    limits = list(configured)
    if unit_properties:
        for prop in ("MemoryMax", "MemoryHigh", "MemoryLimit"):
            value = parse_limit_bytes(unit_properties.get(prop))
            if value is not None:
                limits.append({"source": "systemd %s=" % prop, "cgroup": None, "bytes": value, "fs_path": None})

    for version, mount, relative in cgroup_dirs(mounts, v2_path, v1_paths, "memory"):
        for index, (cgroup_path, fs_path) in enumerate(_walk_up(mount, relative)):
            if version == "v2":
                files = ["memory.max", "memory.high"]
            else:
                files = ["memory.limit_in_bytes"]
            for name in files:
                value = parse_limit_bytes(reader.read(posixpath.join(fs_path, name)))
                if value is not None:
                    limits.append({"source": "cgroup %s %s" % (version, name), "cgroup": cgroup_path,
                                   "bytes": value, "fs_path": fs_path})
            if version == "v1" and index == 0:
                # Covers ancestors hidden from this mount when use_hierarchy is on.
                stat = parse_memory_stat(reader.read(posixpath.join(fs_path, "memory.stat")))
                value = stat.get("hierarchical_memory_limit")
                if value is not None and value < UNLIMITED_THRESHOLD:
                    limits.append({"source": "cgroup v1 hierarchical_memory_limit", "cgroup": cgroup_path,
                                   "bytes": value, "fs_path": fs_path})
    if mem_total:
        # The JDK's rule: a limit at or above physical memory does not limit anything.
        limits = [limit for limit in limits if limit["bytes"] < mem_total]
    return limits


def _working_set(reader, fs_path):
    """Memory in use by a cgroup minus the page cache it could drop, or None."""
    if fs_path is None:
        return None
    current = reader.read(posixpath.join(fs_path, "memory.current"))
    inactive_key = "inactive_file"
    if current is None:
        current = reader.read(posixpath.join(fs_path, "memory.usage_in_bytes"))
        inactive_key = "total_inactive_file"
    if current is None or not current.strip().isdigit():
        return None
    stat = parse_memory_stat(reader.read(posixpath.join(fs_path, "memory.stat")))
    return max(0, int(current) - stat.get(inactive_key, 0))


# ---------------------------------------------------------------------- entry point


def _limit_view(limit):
    """A limit as returned: without the filesystem path, which is an internal detail."""
    return dict((key, value) for key, value in limit.items() if key != "fs_path")


def _describe(limit):
    if limit is None:
        return "none"
    if limit.get("cgroup"):
        return "%s at %s" % (limit["source"], limit["cgroup"])
    return limit["source"]


def detect_capacity(root="/", pid="self", unit=None, unit_properties=None, affinity=None, meminfo=None,
                    container=None):
    """The CPUs and memory available to a process, to a systemd unit, or to a container.

    root: filesystem root to read /proc and /sys below.
    pid: 'self' or a PID; ignored for a unit unless the unit runs (its MainPID is used).
    unit, unit_properties: a unit name and its 'systemctl show' properties.
    affinity: the CPU list of the process when the caller already knows it (psutil).
    meminfo: {'MemTotal': bytes, 'MemAvailable': bytes} when the caller knows them (psutil).
    container: a container as container_config.parse_inspect returns it. Its main process's
    cgroup is read when it runs here; a stopped container gets its configured limits within the
    limits of this host's init (where the engine will start it).
    """
    reader = FsReader(root)
    scope = "unit" if unit else ("process" if pid == "self" else "pid")
    # Init's process stands for a container that does not run here: its limits are the host's.
    stands_for_container = False
    if container is not None:
        scope = "container"
        if container["pid"] is not None and reader.exists("/proc/%d/cgroup" % container["pid"]):
            pid = container["pid"]
        else:
            pid, affinity, stands_for_container = 1, None, True

    if unit:
        main_pid = int((unit_properties or {}).get("MainPID") or 0)
        if main_pid > 0 and reader.exists("/proc/%d/cgroup" % main_pid):
            pid = main_pid
        else:
            pid = None
            affinity = None
    reported_pid = None if pid in (None, "self") or stands_for_container else int(pid)

    if pid is not None:
        cgroup_text = reader.read("/proc/%s/cgroup" % pid)
        if cgroup_text is None:
            raise CapacityError("no process %s: /proc/%s/cgroup cannot be read" % (pid, pid))
        v2_path, v1_paths = parse_proc_cgroup(cgroup_text)
        if affinity is None:
            affinity = parse_status_cpus(reader.read("/proc/%s/status" % pid))
    else:
        # A stopped unit has no process: use the cgroup systemd will create for it.
        path = unit_cgroup_path(unit, unit_properties or {})
        v2_path = path
        v1_paths = dict((controller, path) for controller in ("cpu", "cpuacct", "cpuset", "memory"))

    # The cgroup files are read where this process sees them: its own mounts, not the target's. A
    # container's process has a mount namespace of its own, where its cgroup is mounted as the root
    # of each hierarchy; through its mountinfo the host's root cgroup would be read in its place.
    mounts = parse_mountinfo(reader.read("/proc/self/mountinfo"))

    logical = _online_cpus(reader) or (len(affinity) if affinity else None) or os.cpu_count() or 1
    cpu_limits = _cpu_limits(reader, mounts, v2_path, v1_paths, affinity, unit_properties if unit else None,
                             container["cpu_limits"] if container else ())
    cpu_value, cpu_binding = effective_cpu(logical, cpu_limits)
    quotas = [limit["cpus"] for limit in cpu_limits if "cpu_list" not in limit]

    if meminfo is None:
        meminfo = parse_meminfo(reader.read("/proc/meminfo"))
    mem_total = meminfo.get("MemTotal")
    if not mem_total:
        raise CapacityError("MemTotal is missing from %s" % reader.path("/proc/meminfo"))
    mem_available = meminfo.get("MemAvailable")
    if mem_available is None:
        mem_available = sum(meminfo.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))
    memory_limits = _memory_limits(reader, mounts, v2_path, v1_paths, unit_properties if unit else None, mem_total,
                                   container["memory_limits"] if container else ())
    memory_binding = min(memory_limits, key=lambda limit: limit["bytes"]) if memory_limits else None
    memory_effective = memory_binding["bytes"] if memory_binding else mem_total
    available_effective = min(mem_available, memory_effective)
    if memory_binding is not None:
        working_set = _working_set(reader, memory_binding["fs_path"])
        if working_set is not None:
            available_effective = max(0, min(available_effective, memory_effective - working_set))

    return {
        "scope": scope,
        "unit": unit,
        "pid": reported_pid,
        "cgroup": {
            "version": _cgroup_version(mounts),
            "v2_path": v2_path,
            "v1_paths": dict((key, value) for key, value in v1_paths.items() if key in ("cpu", "cpuset", "memory")),
        },
        "cpu": {
            "logical": int(logical),
            "affinity": len(affinity) if affinity is not None else None,
            "affinity_list": list(affinity) if affinity is not None else None,
            "quota": min(quotas) if quotas else None,
            "effective": round(cpu_value, 3),
            "effective_int": cpu_as_int(cpu_value),
            "effective_ceil": cpu_ceil(cpu_value),
            "binding": _describe(cpu_binding),
            "limits": [_limit_view(limit) for limit in cpu_limits],
        },
        "memory": {
            "total_bytes": int(mem_total),
            "available_bytes": int(mem_available),
            "limit_bytes": memory_binding["bytes"] if memory_binding else None,
            "effective_bytes": int(memory_effective),
            "effective_mib": int(memory_effective // (1024 * 1024)),
            "available_effective_bytes": int(available_effective),
            "binding": _describe(memory_binding),
            "limits": [_limit_view(limit) for limit in memory_limits],
        },
    }
