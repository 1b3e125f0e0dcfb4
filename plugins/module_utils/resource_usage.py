# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a gateway uses while a load runs: the memory of its process tree, the OOM kills in its
memory cgroup, and the PostgreSQL sessions of its role.

Upstream's defaults fail by exhausting these (workers OOM-killed in a small container, pools
that open more sessions than PostgreSQL allows), so a benchmark reports them beside throughput.
The readers take an FsReader, so unit tests lay out /proc and cgroup files in a folder.
"""

from __future__ import annotations

import os
import posixpath
import time

from ansible_collections.mcpgateway.tuning.plugins.module_utils.capacity import FsReader, cgroup_dirs
from ansible_collections.mcpgateway.tuning.plugins.module_utils.cgroup_files import (
    parse_mountinfo,
    parse_oom_kills,
    parse_pss_kib,
    parse_proc_cgroup,
    parse_stat_ppid,
    parse_status_rss_kib,
)

# Sessions of a role other than the watcher's own: the watcher's connection is not the gateway's.
SESSIONS_QUERY = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()"


# What the gateway logs when PostgreSQL refuses it a session (the server's or the role's limit, the
# slots reserved for superusers) and when a worker's pool has none free within DB_POOL_TIMEOUT.
DATABASE_REFUSALS = ("too many clients already", "too many connections for role",
                     "remaining connection slots are reserved")
POOL_TIMEOUTS = ("QueuePool limit of size",)


def database_exhaustion_signs(lines):
    """How many log lines show PostgreSQL refusing a session, and how many a pool timing out:
    {"refused": n, "pool_timeouts": n, "lines": lines read}."""
    counts = {"refused": 0, "pool_timeouts": 0, "lines": 0}
    for line in lines:
        counts["lines"] += 1
        if any(sign in line for sign in DATABASE_REFUSALS):
            counts["refused"] += 1
        elif any(sign in line for sign in POOL_TIMEOUTS):
            counts["pool_timeouts"] += 1
    return counts


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def lines_since(path, offset):
    """The lines a log file gained after offset (all of it when it was rotated and is shorter now)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset if file_size(path) >= offset else 0)
            for raw in handle:
                yield raw.decode("utf-8", "replace")
    except OSError:
        return


def process_tree(reader, pid):
    """pid and all its descendants, from the parent PIDs in /proc/*/stat."""
    parents = {}
    for entry in os.listdir(reader.path("/proc")):
        if entry.isdigit():
            ppid = parse_stat_ppid(reader.read("/proc/%s/stat" % entry))
            if ppid is not None:
                parents.setdefault(ppid, []).append(int(entry))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(parents.get(current, []))
    return sorted(tree)


def process_memory_kib(reader, pid):
    """A process's proportional share of the memory it maps (Pss), or its VmRSS where the kernel has
    no smaps_rollup; 0 for a process that ended meanwhile."""
    pss = parse_pss_kib(reader.read("/proc/%d/smaps_rollup" % pid))
    return pss if pss is not None else parse_status_rss_kib(reader.read("/proc/%d/status" % pid))


def memory_mib(reader, pids):
    """The memory of the processes, in MiB: the sum of their proportional shares, so that pages a
    preloading master shares with its workers count once."""
    return sum(process_memory_kib(reader, pid) for pid in pids) / 1024.0


def memory_cgroup_dir(reader, pid):
    """The folder of the memory cgroup pid is in (v2, or v1's memory controller), or None."""
    cgroup_text = reader.read("/proc/%d/cgroup" % pid)
    if cgroup_text is None:
        return None
    v2_path, v1_paths = parse_proc_cgroup(cgroup_text)
    # The watcher's mounts, where it reads the folder: a container's own mountinfo shows its cgroup as
    # the root of each hierarchy, and the watcher would read the root cgroup in its place (where a
    # container's OOM kills are not counted).
    mounts = parse_mountinfo(reader.read("/proc/self/mountinfo"))
    for version, mount, relative in cgroup_dirs(mounts, v2_path, v1_paths, "memory"):
        controllers = reader.read(posixpath.join(mount["mount_point"], "cgroup.controllers")) or ""
        if version == "v1" or "memory" in controllers.split():
            return posixpath.normpath(posixpath.join(mount["mount_point"], relative))
    return None


def oom_kills(reader, folder):
    """The OOM kills the kernel counted in a memory cgroup since it was made, or None."""
    if folder is None:
        return None
    for name in ("memory.events", "memory.oom_control"):
        count = parse_oom_kills(reader.read(posixpath.join(folder, name)))
        if count is not None:
            return count
    return None


def kills_over(readings):
    """The OOM kills over successive readings of a memory cgroup's counter (None: not readable then),
    or None when none could be read. A counter lower than the reading before, or read again after a
    gap, is a new cgroup of the same path (a container's main process killed takes its cgroup with
    it, and the restarted container gets a new one): its count starts from 0, and adds up."""
    total, last, readable = 0, None, False
    for index, value in enumerate(readings):
        if value is not None:
            # The first reading is where the watch starts from.
            if index > 0:
                total += value if last is None or value < last else value - last
            readable = True
        last = value
    return total if readable else None


def watch(pid, stop_file, max_seconds, interval, count_sessions=None, reader=None, clock=time.monotonic,
          sleep=time.sleep):
    """Sample until stop_file exists or max_seconds pass: the peak memory (memory_mib) of pid's process
    tree, the OOM kills in its memory cgroup over the watch (kills_over), whether pid exited, and
    the peak of count_sessions() (a callable, None to skip; a sample it cannot count returns None).
    Returns the figures and how they were read."""
    reader = reader or FsReader()
    if not reader.exists("/proc/%d/cgroup" % pid):
        raise ValueError("no process %d: /proc/%d/cgroup cannot be read" % (pid, pid))
    folder = memory_cgroup_dir(reader, pid)
    # Read at every sample, not only at both ends: a cgroup taken away and made again resets its count.
    kill_readings = [oom_kills(reader, folder)]
    peak_memory = peak_sessions = None
    main_process_exited = False
    samples = 0
    started = clock()
    while True:
        main_process_exited = main_process_exited or not reader.exists("/proc/%d/stat" % pid)
        peak_memory = max(peak_memory or 0.0, memory_mib(reader, process_tree(reader, pid)))
        kill_readings.append(oom_kills(reader, folder))
        sessions = count_sessions() if count_sessions is not None else None
        if sessions is not None:
            peak_sessions = max(peak_sessions or 0, sessions)
        samples += 1
        if os.path.exists(stop_file) or clock() - started >= max_seconds:
            break
        sleep(interval)
    return {
        "peak_memory_mib": round(peak_memory, 1),
        "oom_kills": kills_over(kill_readings),
        "main_process_exited": main_process_exited,
        "peak_db_sessions": peak_sessions,
        "samples": samples,
        "seconds": round(clock() - started, 1),
        "memory_cgroup": folder,
        "stopped_by": "stop file" if os.path.exists(stop_file) else "max_seconds",
    }
