# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a container engine says about a container: its state and the CPU and memory limits it
was created with, from the JSON of ``podman container inspect`` or ``docker container inspect``.

Both engines write Docker's HostConfig keys. ``--cpus`` is NanoCpus (Podman also writes it as
CpuQuota/CpuPeriod), ``--cpu-quota``/``--cpu-period`` are CpuQuota/CpuPeriod, ``--cpuset-cpus`` is
CpusetCpus and ``--memory`` is Memory, in bytes; 0 or empty means no limit.
"""

from __future__ import annotations

import json

from ansible_collections.mcpgateway.tuning.plugins.module_utils.cgroup_files import parse_cpu_list

ENGINES = ("podman", "docker")
MIB = 1024 * 1024


class ContainerConfigError(ValueError):
    pass


def engines_to_try(choice, installed):
    """The engines to ask, in order, for container_engine=choice, given the installed ones (a
    set of names); raises ContainerConfigError naming what is missing."""
    if choice != "auto":
        if choice not in installed:
            raise ContainerConfigError("container_engine=%s, and %s is not installed on this host (not on PATH): "
                                       "install it, or set container_engine to the engine that runs the container"
                                       % (choice, choice))
        return [choice]
    found = [engine for engine in ENGINES if engine in installed]
    if not found:
        raise ContainerConfigError("container_engine=auto found neither podman nor docker on this host's PATH: "
                                   "install the engine that runs the container, or run the module on its host")
    return found


def _number(value):
    """A HostConfig number: ints as JSON gives them; null, absent or not a number is 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return value


def _figure(cpus):
    return ("%.3f" % cpus).rstrip("0").rstrip(".")


def parse_inspect(text, engine):
    """The container of one inspect output: name, id, image, state, main PID when it runs, and
    the limits it was created with, as capacity.py's limit dicts (source, cgroup None, cpus or
    bytes) so that a configured limit is named before the cgroup file that carries it."""
    try:
        documents = json.loads(text)
    except ValueError as error:
        raise ContainerConfigError("%s container inspect did not write JSON: %s" % (engine, error))
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list) or len(documents) != 1 or not isinstance(documents[0], dict):
        raise ContainerConfigError("%s container inspect wrote %s, not one container"
                                   % (engine, type(documents).__name__ if not isinstance(documents, list)
                                      else "%d entries" % len(documents)))
    document = documents[0]
    host_config = document.get("HostConfig") or {}
    state = document.get("State") or {}

    cpu_limits = []
    nano_cpus = _number(host_config.get("NanoCpus"))
    quota = _number(host_config.get("CpuQuota"))
    period = _number(host_config.get("CpuPeriod")) or 100000
    if nano_cpus > 0:
        cpus = nano_cpus / 1e9
        cpu_limits.append({"source": "container CPU limit %s (%s --cpus)" % (_figure(cpus), engine), "cgroup": None,
                           "cpus": cpus})
    elif quota > 0:
        cpus = float(quota) / period
        cpu_limits.append({"source": "container CPU limit %s (%s --cpu-quota/--cpu-period)" % (_figure(cpus), engine),
                           "cgroup": None, "cpus": cpus})
    cpuset = parse_cpu_list(host_config.get("CpusetCpus") or "")
    if cpuset:
        cpu_limits.append({"source": "container CPU set %s (%s --cpuset-cpus)" % (host_config["CpusetCpus"], engine),
                           "cgroup": None, "cpus": float(len(cpuset)), "cpu_list": cpuset})

    memory_limits = []
    memory = _number(host_config.get("Memory"))
    if memory > 0:
        memory_limits.append({"source": "container memory limit %d MiB (%s --memory)" % (memory // MIB, engine),
                              "cgroup": None, "bytes": int(memory), "fs_path": None})

    pid = _number(state.get("Pid"))
    running = bool(state.get("Running")) and pid > 0
    return {
        "engine": engine,
        "name": (document.get("Name") or "").lstrip("/"),
        "id": document.get("Id") or "",
        "image": (document.get("Config") or {}).get("Image") or document.get("ImageName") or document.get("Image") or "",
        "status": state.get("Status") or ("running" if running else "unknown"),
        "running": running,
        "pid": int(pid) if running else None,
        "cpu_limits": cpu_limits,
        "memory_limits": memory_limits,
    }


def with_new_limits(container, cpus, memory_bytes):
    """The container as it will be once recreated with --cpus cpus and --memory memory_bytes (None:
    no limit): its limits replaced, and no process, so that its capacity is read within the limits
    of the host that will start it, as for a stopped container. Its --cpuset-cpus stays: the
    gateway roles never set it, and a recreation keeps what they do not set. The limits are named
    as parse_inspect names them once the container runs with them: the plan's reasons quote them in
    the files the container is created from, which must read the same at the next run."""
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0):
        raise ContainerConfigError("container_limits.cpus is %r: give a number of CPUs above 0, or null for no limit"
                                   % (cpus,))
    if memory_bytes is not None and (isinstance(memory_bytes, bool) or not isinstance(memory_bytes, int)
                                     or memory_bytes <= 0):
        raise ContainerConfigError("container_limits.memory_bytes is %r: give a number of bytes above 0, or null for "
                                   "no limit" % (memory_bytes,))
    engine = container["engine"]
    cpu_limits = [limit for limit in container["cpu_limits"] if "cpu_list" in limit]
    if cpus is not None:
        cpu_limits.insert(0, {"source": "container CPU limit %s (%s --cpus)" % (_figure(cpus), engine),
                              "cgroup": None, "cpus": float(cpus)})
    memory_limits = []
    if memory_bytes is not None:
        memory_limits.append({"source": "container memory limit %d MiB (%s --memory)"
                                        % (memory_bytes // MIB, engine),
                              "cgroup": None, "bytes": int(memory_bytes), "fs_path": None})
    return dict(container, pid=None, cpu_limits=cpu_limits, memory_limits=memory_limits)
