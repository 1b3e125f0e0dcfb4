# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""benchmarks/machine_memory.py: what it reads from a cgroup v1 memory group, laid out in a temp folder."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.tests.unit.benchmarks.scripts import load_script

MIB = 1024 * 1024

machine_memory = load_script("machine_memory.py")


def memory_group(folder, stat):
    files = {
        "memory.limit_in_bytes": "%d\n" % (1024 * MIB),
        "memory.max_usage_in_bytes": "%d\n" % (1024 * MIB),
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        "memory.stat": stat,
    }
    for name, text in files.items():
        folder.joinpath(name).write_text(text)
    return str(folder)


def test_the_anonymous_memory_is_the_group_total_not_the_cache(tmp_path):
    # A group at its limit, most of it page cache: the processes hold 700 MiB.
    stat = ("cache %d\nrss %d\nrss_huge 0\ntotal_cache %d\ntotal_rss %d\ntotal_rss_huge 0\n"
            % (10 * MIB, 5 * MIB, 324 * MIB, 700 * MIB))
    assert machine_memory.state(memory_group(tmp_path, stat)) == {
        "limited": True, "limit_mib": 1024, "peak_mib": 1024, "anonymous_mib": 700, "oom_kills": 3}


def test_a_kernel_without_the_total_counter_reports_no_anonymous_memory(tmp_path):
    state = machine_memory.state(memory_group(tmp_path, "cache 0\nrss 0\n"))
    assert state["anonymous_mib"] is None
    assert state["peak_mib"] == 1024
