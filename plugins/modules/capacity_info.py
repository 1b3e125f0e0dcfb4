#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: capacity_info
short_description: Report the CPU and memory a process, a systemd unit or a container can really use
version_added: 1.0.0
description:
  - Reads CPU affinity, cpusets, CFS quotas and memory limits of cgroup v1, v2 and hybrid
    layouts, taking the tightest limit up the cgroup tree, and returns the effective CPUs and
    memory with the limit that binds each.
  - Ansible's own facts (C(processor_vcpus), C(memtotal_mb)) report the host's CPUs and RAM,
    even inside containers and limited units. Use this module's figures to size workers.
  - Over SSH a module runs in the login session's cgroup, not in the service's. Use O(unit) to
    read the limits of the service itself; this works whether the unit runs or not.
  - Use O(container) for a gateway in a Podman or Docker container. Inside it, C(nproc) and
    C(/proc/meminfo) show the host's CPUs and memory; the module reports the limits the engine
    gave the container and those of its cgroup, and names the container limit that binds.
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
  container:
    description:
      - A container's name or ID. The limits it was created with (C(--cpus), C(--cpu-quota) and
        C(--cpu-period), C(--cpuset-cpus), C(--memory)) are read from the engine, and, when it
        runs, the cgroup of its main process; the tightest of those and of the host's limits is
        reported.
      - A stopped container reports its configured limits within the host's.
      - Run the module on the host of the engine, as the account that runs the container (rootless
        Podman keeps each account's containers apart).
    type: str
  container_engine:
    description:
      - The engine that runs O(container). V(auto) asks Podman, then Docker, whichever is installed.
      - The engine's own environment applies, for example C(DOCKER_HOST) or C(CONTAINERS_CONF) set
        with the task's C(environment).
    type: str
    choices: [auto, podman, docker]
    default: auto
  container_limits:
    description:
      - The limits O(container) is about to be created again with, in place of its own, for right-sizing
        it. The capacity is then the one the new container will have, with these limits (and its
        C(--cpuset-cpus)) within the host's, whatever its running process's cgroup says now.
      - The mcpgateway.tuning.tune role sets it from tune_container_cpus and tune_container_memory.
    type: dict
    suboptions:
      cpus:
        description: The C(--cpus) limit; null for none.
        type: float
      memory_bytes:
        description: The C(--memory) limit in bytes; null for none.
        type: int
requirements:
  - Linux
  - psutil (optional)
  - For O(container), the C(podman) or C(docker) command.
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

- name: Read what a gateway container may use (podman run --cpus 1.5 --memory 1g)
  mcpgateway.tuning.capacity_info:
    container: mcpgateway
    container_engine: podman
  register: container_capacity
"""

RETURN = r"""
scope:
  description: What was measured.
  returned: always
  type: str
  choices: [process, pid, unit, container]
  sample: container
container:
  description: The container measured, as its engine describes it.
  returned: when O(container) is set
  type: dict
  contains:
    engine:
      description: The engine that knows the container.
      type: str
      sample: podman
    name:
      description: Its name.
      type: str
      sample: mcpgateway
    id:
      description: Its full ID.
      type: str
    image:
      description: The image it runs.
      type: str
      sample: ghcr.io/ibm/mcp-context-forge:1.0.0
    status:
      description: The engine's state of it, for example V(running) or V(exited).
      type: str
      sample: running
    running:
      description: Whether it runs (its main process is then RV(pid)).
      type: bool
unit:
  description: The unit measured, if any.
  returned: always
  type: str
  sample: mcpgateway.service
pid:
  description: The process measured (the unit's or the container's main process when it runs), or null.
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
      description: The tightest CFS quota, C(CPUQuota=) or container C(--cpus) in CPUs, or null when there is none.
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
      description: The limit that sets C(effective_bytes), or V(none). A container's own limit is named
        with its engine's option, for example V(container memory limit 1024 MiB (podman --memory)).
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
from ansible_collections.mcpgateway.tuning.plugins.module_utils.container_config import (
    ENGINES, ContainerConfigError, engines_to_try, parse_inspect, with_new_limits)
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


def read_container(module, container, choice):
    """The container as the first engine that knows it describes it (container_config.parse_inspect)."""
    paths = dict((engine, module.get_bin_path(engine)) for engine in ENGINES)
    try:
        engines = engines_to_try(choice, set(engine for engine, path in paths.items() if path))
    except ContainerConfigError as error:
        module.fail_json(msg=str(error))
    refusals = []
    for engine in engines:
        rc, out, err = module.run_command([paths[engine], "container", "inspect", container])
        if rc == 0:
            try:
                return parse_inspect(out, engine)
            except ContainerConfigError as error:
                module.fail_json(msg=str(error))
        refusals.append("%s: %s" % (engine, (err.strip() or out.strip() or "rc=%d" % rc).splitlines()[-1]))
    module.fail_json(msg="no container %s is known to %s (%s): check the name (%s ps -a), the engine "
                         "(container_engine) and the account the task runs as (become_user: rootless containers "
                         "belong to their user)" % (container, " or ".join(engines), "; ".join(refusals),
                                                    engines[0]))
    return None


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
            container=dict(type="str"),
            container_engine=dict(type="str", choices=["auto"] + list(ENGINES), default="auto"),
            container_limits=dict(type="dict", options=dict(cpus=dict(type="float"), memory_bytes=dict(type="int"))),
        ),
        mutually_exclusive=[("unit", "pid", "container")],
        required_by={"container_limits": "container"},
        supports_check_mode=True,
    )
    unit = module.params["unit"]
    pid = module.params["pid"]
    fail_outside_ranges(module, {"pid": PID_RANGE})

    properties = None
    container = None
    target = "self" if pid is None else pid
    if module.params["container"]:
        container = read_container(module, module.params["container"], module.params["container_engine"])
        new_limits = module.params["container_limits"]
        if new_limits is not None:
            try:
                container = with_new_limits(container, new_limits["cpus"], new_limits["memory_bytes"])
            except ContainerConfigError as error:
                module.fail_json(msg=str(error))
        # None when it does not run; detect_capacity reads the host's limits when its process is not here.
        target = container["pid"]
    if unit:
        properties = read_unit_properties(module, unit)
        main_pid = int(properties.get("MainPID") or 0)
        target = main_pid if main_pid > 0 else None

    affinity, meminfo = psutil_readings(target) if target is not None else (None, None)
    try:
        capacity = detect_capacity(pid="self" if target is None else target, unit=unit,
                                   unit_properties=properties, affinity=affinity, meminfo=meminfo,
                                   container=container)
    except (CapacityError, ValueError) as error:
        module.fail_json(msg="cannot read the capacity: %s" % error)

    result = dict(changed=False, **capacity)
    if container:
        shown = ("engine", "name", "id", "image", "status", "running")
        result["container"] = dict((key, container[key]) for key in shown)
    if unit:
        result["unit_state"] = {"active": properties.get("ActiveState"), "load": properties.get("LoadState")}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
