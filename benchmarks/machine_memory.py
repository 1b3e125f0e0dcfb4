# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory peak and OOM kills of a test machine booted in its own cgroup (a "small VM").

The performance suite resets the peak before it puts a configuration on the machine and reads it
after the measurement: whether a configuration fits the machine's memory is part of its result.
Read from the controller, in the cgroup v1 memory group tests/harness/testvm.py made for the machine.

Usage: python benchmarks/machine_memory.py reset|read MACHINE_RECORD_JSON
Prints JSON: {"limited": false} for a machine without its own cgroup; else the limit, the peak
since the last reset (MiB), the anonymous memory now (MiB) and the kernel's OOM kill counter of the
group.

The peak counts page cache, which the kernel reclaims before it kills anything: a configuration can
peak at the limit and still fit. The anonymous memory (memory.stat total_rss) is what the processes
hold; read after the runs it is about their peak, since a Python worker keeps the heap it grew to
(measured on this host, 2026-12-01: after hey -c 200, 2 Granian workers' total_rss was 816 MiB at the
end and at its highest, sampled every 0.5 s).
"""

from __future__ import annotations

import json
import os
import sys

MIB = 1024 * 1024


def memory_group(record_path):
    if not os.path.exists(record_path):
        sys.exit("no machine record at %s: the suite runs in the Molecule scenario performance "
                 "(sudo make benchmark), which boots the machines" % record_path)
    with open(record_path) as handle:
        record = json.load(handle)
    return ((record.get("cgroup") or {}).get("dirs") or {}).get("memory")


def read_number(folder, name):
    with open(os.path.join(folder, name)) as handle:
        return int(handle.read().strip())


def keyed_number(folder, name, key):
    """The number after key in a file of "key N" lines (memory.oom_control, memory.stat), or None."""
    with open(os.path.join(folder, name)) as handle:
        for line in handle:
            fields = line.split()
            if len(fields) == 2 and fields[0] == key:
                return int(fields[1])
    return None


def state(folder):
    # total_rss: anonymous and swap-cache memory of the group and its children (cgroup v1).
    anonymous = keyed_number(folder, "memory.stat", "total_rss")
    return {
        "limited": True,
        "limit_mib": read_number(folder, "memory.limit_in_bytes") // MIB,
        "peak_mib": read_number(folder, "memory.max_usage_in_bytes") // MIB,
        "anonymous_mib": None if anonymous is None else anonymous // MIB,
        # "oom_kill N" (Linux 4.13+): kills in this group since it was made.
        "oom_kills": keyed_number(folder, "memory.oom_control", "oom_kill"),
    }


def main(argv):
    if len(argv) != 3 or argv[1] not in ("reset", "read"):
        sys.exit(__doc__)
    folder = memory_group(argv[2])
    if not folder:
        print(json.dumps({"limited": False}))
        return
    if argv[1] == "reset":
        with open(os.path.join(folder, "memory.max_usage_in_bytes"), "w") as handle:
            handle.write("0\n")
    print(json.dumps(state(folder)))


if __name__ == "__main__":
    main(sys.argv)
