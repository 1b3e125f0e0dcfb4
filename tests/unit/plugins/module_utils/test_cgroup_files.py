# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parsers of /proc, cgroup and systemd texts, on the texts real systems write."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import cgroup_files

GIB = 1024 ** 3
V1_UNLIMITED = "9223372036854771712"


@pytest.mark.parametrize("text, expected", [
    ("0-1,4", [0, 1, 4]), ("0 1 4", [0, 1, 4]), ("", []), (None, []), ("3", [3]), ("0-3,2-5\n", [0, 1, 2, 3, 4, 5]),
])
def test_parse_cpu_list(text, expected):
    assert cgroup_files.parse_cpu_list(text) == expected


def test_parse_proc_cgroup_keeps_colons_in_paths_and_ignores_named_hierarchies():
    v2_path, v1_paths = cgroup_files.parse_proc_cgroup(
        "9:name=systemd:/\n4:memory:/pod:with:colons\n1:cpu,cpuacct:/a\n0::/b\n")
    assert v2_path == "/b"
    assert v1_paths == {"memory": "/pod:with:colons", "cpu": "/a", "cpuacct": "/a"}


def test_parse_mountinfo_unescapes_and_keeps_only_cgroup_mounts():
    mounts = cgroup_files.parse_mountinfo(
        "1 0 0:1 / / rw - ext4 /dev/vda rw\n"
        "2 1 0:2 /a\\040b /sys/fs/cgroup/cpu rw shared:3 - cgroup cgroup rw,cpu,cpuacct\n")
    assert mounts == [{"root": "/a b", "mount_point": "/sys/fs/cgroup/cpu", "fstype": "cgroup",
                       "options": ["rw", "cpu", "cpuacct"]}]


@pytest.mark.parametrize("text, expected", [
    ("1.500000s", 1.5), ("500ms", 0.5), ("1s 500ms", 1.5), ("2s", 2.0), ("infinity", None), ("", None),
    ("250000us", 0.25),
])
def test_parse_systemd_timespan(text, expected):
    assert cgroup_files.parse_systemd_timespan(text) == expected


@pytest.mark.parametrize("name, path", [
    ("system.slice", "/system.slice"), ("-.slice", "/"), ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
])
def test_slice_cgroup_path(name, path):
    assert cgroup_files.slice_cgroup_path(name) == path


@pytest.mark.parametrize("text, expected", [
    ("max", None), ("infinity", None), (V1_UNLIMITED, None), ("9223372036854710272", None),
    ("1073741824\n", GIB), ("", None), (None, None),
])
def test_parse_limit_bytes_sentinels(text, expected):
    assert cgroup_files.parse_limit_bytes(text) == expected


def test_parse_meminfo():
    values = cgroup_files.parse_meminfo("MemTotal:  100 kB\nHugePages_Total:  0\nHugepagesize: 2048 kB\n")
    assert values == {"MemTotal": 102400, "HugePages_Total": 0, "Hugepagesize": 2048 * 1024}


def test_oom_kill_counts_of_v1_and_v2():
    assert cgroup_files.parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n") == 4
    assert cgroup_files.parse_oom_kills("low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\noom_group_kill 0\n") == 1
    assert cgroup_files.parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n") is None
    assert cgroup_files.parse_oom_kills(None) is None


def test_resident_memory_and_parent_of_a_process():
    assert cgroup_files.parse_status_rss_kib("Name:\tpython\nVmRSS:\t  123456 kB\n") == 123456
    assert cgroup_files.parse_status_rss_kib("Name:\tkthreadd\n") == 0
    assert cgroup_files.parse_stat_ppid("4242 (gunicorn: worker [x) (y)]) S 4200 4200 0") == 4200
    assert cgroup_files.parse_stat_ppid("") is None


def test_proportional_memory_of_a_process():
    assert cgroup_files.parse_pss_kib("55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 300 kB\nPss: 120 kB\n"
                                      "Pss_Anon: 100 kB\n") == 120
    assert cgroup_files.parse_pss_kib(None) is None
