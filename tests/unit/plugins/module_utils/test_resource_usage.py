# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What resource_watch reads: process trees, resident memory and OOM kills laid out as the kernel
shapes /proc and the cgroup files, and the gateway's log lines that show database exhaustion."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.module_utils import resource_usage
from ansible_collections.mcpgateway.tuning.plugins.module_utils.capacity import FsReader

MOUNTINFO_V1 = """\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MOUNTINFO_V2 = "35 24 0:30 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def lay_out(tmp_path, files):
    for path, text in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return FsReader(str(tmp_path))


def process(pid, ppid, rss_kib, name="gunicorn: worker [app] (x)"):
    # A command name with spaces and parentheses, as a Gunicorn worker's is.
    return {"/proc/%d/stat" % pid: "%d (%s) S %d %d 0 0" % (pid, name, ppid, ppid),
            "/proc/%d/status" % pid: "Name:\tgunicorn\nVmRSS:\t  %d kB\n" % rss_kib}


def gateway_processes(cgroup_files):
    files = {}
    files.update(process(1, 0, 10000, "systemd"))
    files.update(process(100, 1, 20480))  # the master
    files.update(process(101, 100, 204800))
    files.update(process(102, 100, 184320))
    files.update(process(103, 101, 1024))  # a worker's helper
    files.update(process(200, 1, 999999, "redis-server"))
    files["/proc/100/stat"] = "100 (gunicorn) S 1 100 0 0"
    files.update(cgroup_files)
    return files


def test_the_tree_of_a_process_and_its_memory(tmp_path):
    reader = lay_out(tmp_path, gateway_processes({}))
    tree = resource_usage.process_tree(reader, 100)
    assert tree == [100, 101, 102, 103]
    assert resource_usage.memory_mib(reader, tree) == (20480 + 204800 + 184320 + 1024) / 1024.0
    # A process that ended between the listing and the reading counts nothing.
    assert resource_usage.memory_mib(reader, [100, 4242]) == 20.0


def test_workers_forked_from_a_preloading_master_count_shared_pages_once(tmp_path):
    # The demo's 2 tuned workers summed 2368 MiB of VmRSS inside a 1024 MiB cgroup: the pages they
    # share with the master counted once per process.
    files = gateway_processes({})
    for pid, pss in ((100, 102400), (101, 153600), (102, 143360), (103, 512)):
        files["/proc/%d/smaps_rollup" % pid] = ("00400000-7ffd [rollup]\nRss:  %d kB\nPss:  %d kB\n"
                                                % (pss * 3, pss))
    reader = lay_out(tmp_path, files)
    assert resource_usage.memory_mib(reader, [100, 101, 102, 103]) == (102400 + 153600 + 143360 + 512) / 1024.0


def test_oom_kills_of_a_v1_memory_cgroup(tmp_path):
    reader = lay_out(tmp_path, gateway_processes({
        "/proc/100/cgroup": "5:memory:/demo/small\n4:cpu:/demo/small\n0::/\n",
        "/proc/self/mountinfo": MOUNTINFO_V1,
        "/sys/fs/cgroup/unified/cgroup.controllers": "",
        "/sys/fs/cgroup/memory/demo/small/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
    }))
    folder = resource_usage.memory_cgroup_dir(reader, 100)
    assert folder == "/sys/fs/cgroup/memory/demo/small"
    assert resource_usage.oom_kills(reader, folder) == 7


def test_oom_kills_of_a_v2_cgroup(tmp_path):
    reader = lay_out(tmp_path, gateway_processes({
        "/proc/100/cgroup": "0::/system.slice/mcpgateway.service\n",
        "/proc/self/mountinfo": MOUNTINFO_V2,
        "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
        "/sys/fs/cgroup/system.slice/mcpgateway.service/memory.events":
            "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
    }))
    folder = resource_usage.memory_cgroup_dir(reader, 100)
    assert folder == "/sys/fs/cgroup/system.slice/mcpgateway.service"
    assert resource_usage.oom_kills(reader, folder) == 2
    # An old kernel's files without the count.
    assert resource_usage.oom_kills(lay_out(tmp_path / "old", {"/g/memory.oom_control": "under_oom 0\n"}), "/g") is None


def test_a_watch_keeps_the_peaks_and_counts_the_kills_during_it(tmp_path):
    events = "/sys/fs/cgroup/system.slice/mcpgateway.service/memory.events"
    reader = lay_out(tmp_path, gateway_processes({
        "/proc/100/cgroup": "0::/system.slice/mcpgateway.service\n",
        "/proc/self/mountinfo": MOUNTINFO_V2,
        "/sys/fs/cgroup/cgroup.controllers": "memory\n",
        events: "oom_kill 2\n",
    }))
    stop_file = tmp_path / "stop"
    sessions = iter([3, 9, 4, 2])
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
        if now[0] == 1.0:
            # The kernel kills the big worker: it is gone, and counted.
            (tmp_path / "proc" / "101" / "status").unlink()
            (tmp_path / "proc" / "101" / "stat").unlink()
            (tmp_path / events.lstrip("/")).write_text("oom_kill 3\n")
        if now[0] == 1.5:
            stop_file.write_text("")

    result = resource_usage.watch(100, str(stop_file), 60, 0.5, lambda: next(sessions), reader,
                                  clock=lambda: now[0], sleep=sleep)
    assert result["peak_memory_mib"] == round((20480 + 204800 + 184320 + 1024) / 1024.0, 1)
    assert result["oom_kills"] == 1 and result["peak_db_sessions"] == 9
    assert result["samples"] == 4 and result["stopped_by"] == "stop file" and result["main_process_exited"] is False


def test_kills_add_up_over_a_cgroup_made_again():
    assert resource_usage.kills_over([2, 2, 3]) == 1
    # Killed with its main process: the cgroup is gone, then the restarted container's counts from 0.
    assert resource_usage.kills_over([5, 7, None, None, 0, 2, 4]) == 2 + 4
    # Made again between two readings: the counter goes down.
    assert resource_usage.kills_over([5, 9, 1]) == 4 + 1
    assert resource_usage.kills_over([None, None]) is None and resource_usage.kills_over([0]) == 0
    # Not readable at first (no cgroup yet), then a counter: what it counted is new.
    assert resource_usage.kills_over([None, 3]) == 3


def test_a_watch_sees_the_main_process_exit_and_the_kills_of_the_cgroup_that_replaces_its_own(tmp_path):
    oom_control = "/sys/fs/cgroup/memory/machine.slice/libpod-1.scope/memory.oom_control"
    reader = lay_out(tmp_path, gateway_processes({
        "/proc/100/cgroup": "4:memory:/machine.slice/libpod-1.scope\n",
        "/proc/self/mountinfo": MOUNTINFO_V1,
        oom_control: "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    }))
    stop_file = tmp_path / "stop"
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
        control = tmp_path / oom_control.lstrip("/")
        if now[0] == 0.5:
            control.write_text("oom_kill_disable 0\nunder_oom 1\noom_kill 2\n")
        if now[0] == 1.0:
            # The master killed too: the engine removes the cgroup, and starts the container again.
            for name in ("stat", "status"):
                (tmp_path / "proc" / "100" / name).unlink()
            control.unlink()
        if now[0] == 1.5:
            control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
        if now[0] == 2.0:
            stop_file.write_text("")

    result = resource_usage.watch(100, str(stop_file), 60, 0.5, None, reader, clock=lambda: now[0], sleep=sleep)
    assert result["oom_kills"] == 3 and result["main_process_exited"] is True


def test_a_containers_cgroup_is_read_through_the_watchers_mounts(tmp_path):
    # Inside the container, its cgroup is the root of the hierarchy; the watcher sees it where it is.
    folder = "/sys/fs/cgroup/memory/machine.slice/libpod-1.scope"
    reader = lay_out(tmp_path, gateway_processes({
        "/proc/100/cgroup": "4:memory:/machine.slice/libpod-1.scope\n",
        "/proc/100/mountinfo": "421 420 0:32 /machine.slice/libpod-1.scope /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
        "/proc/self/mountinfo": MOUNTINFO_V1,
        folder + "/memory.oom_control": "oom_kill 4\n",
        "/sys/fs/cgroup/memory/memory.oom_control": "oom_kill 0\n",
    }))
    assert resource_usage.memory_cgroup_dir(reader, 100) == folder
    assert resource_usage.oom_kills(reader, folder) == 4


def test_a_watch_ends_after_max_seconds(tmp_path):
    reader = lay_out(tmp_path, gateway_processes({"/proc/100/cgroup": "0::/\n", "/proc/self/mountinfo": MOUNTINFO_V2}))
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    result = resource_usage.watch(100, str(tmp_path / "stop"), 2, 0.5, None, reader, clock=lambda: now[0],
                                  sleep=sleep)
    assert result["stopped_by"] == "max_seconds" and result["samples"] == 5
    assert result["peak_db_sessions"] is None and result["oom_kills"] is None


def test_database_exhaustion_in_the_log_lines():
    lines = [
        'psycopg.OperationalError: connection failed: FATAL:  sorry, too many clients already',
        'FATAL:  too many connections for role "mcp"',
        'FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute',
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 1 overflow 1 reached, connection timed out",
        "INFO: 127.0.0.1 - POST /rpc 200",
    ]
    assert resource_usage.database_exhaustion_signs(lines) == {"refused": 3, "pool_timeouts": 1, "lines": 5}


def test_the_lines_a_log_gained(tmp_path):
    log = tmp_path / "mcpgateway.log"
    log.write_text("before the load\n")
    offset = resource_usage.file_size(str(log))
    with open(log, "a") as handle:
        handle.write("too many clients already\nserved\n")
    assert list(resource_usage.lines_since(str(log), offset)) == ["too many clients already\n", "served\n"]
    # Rotated during the watch: the new file is read from its start.
    log.write_text("after rotation\n")
    assert list(resource_usage.lines_since(str(log), offset)) == ["after rotation\n"]
    assert list(resource_usage.lines_since(str(tmp_path / "missing.log"), 0)) == []
