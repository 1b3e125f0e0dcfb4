#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: capacity_info
short_description: Report the CPU and memory a process or a systemd unit can really use
version_added: 1.0.0
description:
  - Reads CPU affinity, cpusets, CFS quotas and memory limits of cgroup v1, v2 and hybrid
    layouts, taking the tightest limit up the cgroup tree, and returns the effective CPUs and
    memory with the limit that binds each.
  - Ansible's own facts (C(processor_vcpus), C(memtotal_mb)) report the host's CPUs and RAM,
    even inside containers and limited units. Use this module's figures to size workers.
  - Over SSH a module runs in the login session's cgroup, not in the service's. Use O(unit) to
    read the limits of the service itself; this works whether the unit runs or not.
  - Uses psutil for affinity and memory when it is installed, and reads C(/proc) and C(/sys)
    directly otherwise.
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
attributes:
  check_mode:
    support: full
    description: The module only reads; it returns the same data in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
options:
  unit:
    description:
      - A systemd unit, for example C(mcpgateway.service). Its cgroup (the one systemd will
        create when it is stopped) and its C(CPUQuota=), C(AllowedCPUs=), C(CPUAffinity=),
        C(MemoryMax=), C(MemoryHigh=) and C(MemoryLimit=) properties are read.
      - Needs C(systemctl) on the host.
    type: str
  pid:
    description:
      - A process ID whose capacity is read instead of the module's own process.
    type: int
requirements:
  - Linux
  - psutil (optional)
notes:
  - The integer figure for sizing rounds a fractional quota down (1.5 CPUs gives 1), with a
    slack of 0.01 so that 1.999 gives 2. The float and the rounded-up value are returned too.
  - A memory limit at or above C(MemTotal), such as the cgroup v1 "unlimited" value
    9223372036854771712, does not limit anything and is left out.
  - C(MemAvailable) is returned but is not part of RV(memory.effective_bytes), because it
    counts the memory the running gateway already uses against itself, and moves with the
    page cache.
seealso:
  - name: Capacity detection
    description: How the limits are found and combined, with sources.
    link: https://github.com/mcpgateway/tuning/blob/main/docs/capacity.md
"""

EXAMPLES = r"""
- name: Read what the gateway's unit can use
  mcpgateway.tuning.capacity_info:
    unit: mcpgateway.service
  register: gateway_capacity

- name: Show the figures the planner will use
  ansible.builtin.debug:
    msg: >-
      {{ gateway_capacity.cpu.effective }} CPUs ({{ gateway_capacity.cpu.binding }}),
      {{ gateway_capacity.memory.effective_mib }} MiB ({{ gateway_capacity.memory.binding }})

- name: Read the capacity of a running process
  mcpgateway.tuning.capacity_info:
    pid: 1234
"""

RETURN = r"""
scope:
  description: What was measured.
  returned: always
  type: str
  choices: [process, pid, unit]
  sample: unit
unit:
  description: The unit measured, if any.
  returned: always
  type: str
  sample: mcpgateway.service
pid:
  description: The process measured (the unit's main process when it runs), or null.
  returned: always
  type: int
  sample: 4242
unit_state:
  description: The unit's C(ActiveState) and C(LoadState).
  returned: when O(unit) is set
  type: dict
  sample: {active: inactive, load: loaded}
cgroup:
  description: The cgroup layout and the paths read.
  returned: always
  type: dict
  contains:
    version:
      description: V(v1), V(v2), V(hybrid) (v1 controllers beside a v2 mount) or V(none).
      type: str
      sample: hybrid
    v2_path:
      description: The cgroup v2 path, or null.
      type: str
      sample: /system.slice/mcpgateway.service
    v1_paths:
      description: The cgroup v1 path of the cpu, cpuset and memory controllers.
      type: dict
      sample: {"cpu": "/", "cpuset": "/", "memory": "/system.slice/mcpgateway.service"}
cpu:
  description: CPU capacity.
  returned: always
  type: dict
  contains:
    logical:
      description: Online logical CPUs of the host.
      type: int
      sample: 16
    affinity:
      description: CPUs the process may run on (affinity and cpusets), or null for a stopped unit.
      type: int
      sample: 4
    affinity_list:
      description: Those CPUs' numbers.
      type: list
      elements: int
      sample: [0, 1, 2, 3]
    quota:
      description: The tightest CFS quota or C(CPUQuota=) in CPUs, or null when there is none.
      type: float
      sample: 1.5
    effective:
      description: The CPUs really usable, the tightest of all limits.
      type: float
      sample: 1.5
    effective_int:
      description: The effective CPUs rounded down, at least 1 (the whole CPUs).
      type: int
      sample: 1
    effective_ceil:
      description: The effective CPUs rounded up, at least 1 (the workers that can use every CPU).
      type: int
      sample: 2
    binding:
      description: The limit that sets C(effective), with its cgroup; V(none) when the host's
        online CPUs are the limit.
      type: str
      sample: cgroup v2 cpu.max at /system.slice/mcpgateway.service
    limits:
      description: Every CPU limit found, each with C(source), C(cgroup), C(cpus) and for CPU
        sets C(cpu_list).
      type: list
      elements: dict
memory:
  description: Memory capacity in bytes.
  returned: always
  type: dict
  contains:
    total_bytes:
      description: MemTotal of the host.
      type: int
      sample: 8589934592
    available_bytes:
      description: MemAvailable of the host.
      type: int
      sample: 6442450944
    limit_bytes:
      description: The tightest memory limit below MemTotal, or null.
      type: int
      sample: 1610612736
    effective_bytes:
      description: Memory the scope may use, the smallest of MemTotal and every limit.
      type: int
      sample: 1610612736
    effective_mib:
      description: C(effective_bytes) in MiB, rounded down.
      type: int
      sample: 1536
    available_effective_bytes:
      description: Memory free for new use now, MemAvailable bounded by the binding limit
        minus the cgroup's working set.
      type: int
      sample: 1073741824
    binding:
      description: The limit that sets C(effective_bytes), or V(none).
      type: str
      sample: systemd MemoryMax=
    limits:
      description: Every memory limit below MemTotal, each with C(source), C(cgroup), C(bytes).
      type: list
      elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgateway.tuning.plugins.module_utils.capacity import CapacityError, detect_capacity
from ansible_collections.mcpgateway.tuning.plugins.module_utils.cgroup_files import parse_systemctl_show
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import PID_RANGE, fail_outside_ranges

try:
    import psutil
except ImportError:  # optional: /proc is read directly without it
    psutil = None

UNIT_PROPERTIES = (
    "LoadState", "ActiveState", "MainPID", "ControlGroup", "Slice", "CPUQuotaPerSecUSec",
    "AllowedCPUs", "CPUAffinity", "MemoryMax", "MemoryHigh", "MemoryLimit",
)


def pid1_name():
    try:
        with open("/proc/1/comm") as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return "unknown"


def read_unit_properties(module, unit):
    systemctl = module.get_bin_path("systemctl")
    # sd_booted(): systemd creates /run/systemd/system when it runs as init.
    if systemctl is None or not os.path.isdir("/run/systemd/system"):
        module.fail_json(msg="unit=%s needs systemd, and systemd is not running on this host (PID 1 is %s). "
                             "Leave 'unit' out to read the capacity of the module's own process, or give the "
                             "pid of the gateway's main process." % (unit, pid1_name()))
    command = [systemctl, "show", unit] + ["--property=%s" % name for name in UNIT_PROPERTIES]
    rc, out, err = module.run_command(command)
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed (rc=%d): %s" % (unit, rc, err.strip()))
    properties = parse_systemctl_show(out)
    if properties.get("LoadState") == "not-found":
        module.fail_json(msg="unit %s is not known to systemd on this host: check the name "
                             "(systemctl list-unit-files) or install the gateway first" % unit)
    return properties


def psutil_readings(pid):
    """Affinity and meminfo from psutil, or (None, None) so /proc is read instead."""
    if psutil is None:
        return None, None
    try:
        process = psutil.Process(os.getpid() if pid == "self" else pid)
        affinity = sorted(process.cpu_affinity())
    except (psutil.Error, AttributeError):
        affinity = None
    memory = psutil.virtual_memory()
    return affinity, {"MemTotal": memory.total, "MemAvailable": memory.available}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str"),
            pid=dict(type="int"),
        ),
        mutually_exclusive=[("unit", "pid")],
        supports_check_mode=True,
    )
    unit = module.params["unit"]
    pid = module.params["pid"]
    fail_outside_ranges(module, {"pid": PID_RANGE})

    properties = None
    target = "self" if pid is None else pid
    if unit:
        properties = read_unit_properties(module, unit)
        main_pid = int(properties.get("MainPID") or 0)
        target = main_pid if main_pid > 0 else None

    affinity, meminfo = psutil_readings(target) if target is not None else (None, None)
    try:
        capacity = detect_capacity(pid="self" if target is None else target, unit=unit,
                                   unit_properties=properties, affinity=affinity, meminfo=meminfo)
    except (CapacityError, ValueError) as error:
        module.fail_json(msg="cannot read the capacity: %s" % error)

    result = dict(changed=False, **capacity)
    if unit:
        result["unit_state"] = {"active": properties.get("ActiveState"), "load": properties.get("LoadState")}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
