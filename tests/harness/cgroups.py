# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real, kernel-enforced CPU and memory limits for test processes, on cgroup v1 hosts.

A child cgroup is made below this process's own cgroup in the cpu and memory hierarchies,
with a CFS quota and a memory limit; processes moved into it are throttled and capped by
the kernel while /proc/meminfo and nproc still show the whole host, the case Ansible's facts
get wrong. Needs root.
"""

from __future__ import annotations

import os
import shlex
import time

CGROUP_ROOT = "/sys/fs/cgroup"
CFS_PERIOD_US = 100000


class CgroupUnavailable(Exception):
    """This host cannot give a test process its own cgroup limits."""


def own_v1_path(controller, proc_cgroup="/proc/self/cgroup"):
    with open(proc_cgroup) as handle:
        for line in handle:
            hierarchy, controllers, path = line.rstrip("\n").split(":", 2)
            if hierarchy != "0" and controller in controllers.split(","):
                return path
    return None


class LimitedCgroup:
    """cpu and memory cgroups named ``name`` with ``cpus`` CPUs of quota and ``memory_bytes``."""

    def __init__(self, name, cpus, memory_bytes):
        self.name = name
        self.cpus = cpus
        self.memory_bytes = memory_bytes
        self.dirs = {}

    def _folder(self, controller):
        mount = os.path.join(CGROUP_ROOT, controller)
        own = own_v1_path(controller)
        if own is None or not os.path.isdir(mount):
            raise CgroupUnavailable("no cgroup v1 %s hierarchy at %s: these tests need a cgroup v1 (or hybrid) host"
                                    % (controller, mount))
        return os.path.join(mount, own.lstrip("/"), self.name)

    @classmethod
    def existing(cls, name, dirs):
        """The groups a previous process created (their folders by controller), to remove them."""
        cgroup = cls(name, cpus=None, memory_bytes=None)
        cgroup.dirs = dict(dirs)
        return cgroup

    @property
    def cgroup_paths(self):
        """The cgroup paths (as /proc/PID/cgroup shows them) of the cpu and memory groups."""
        return dict((controller, "/" + os.path.relpath(folder, os.path.join(CGROUP_ROOT, controller)))
                    for controller, folder in self.dirs.items())

    def create(self):
        if os.geteuid() != 0:
            raise CgroupUnavailable("making cgroups needs root")
        for controller in ("cpu", "memory"):
            folder = self._folder(controller)
            os.makedirs(folder, exist_ok=True)
            self.dirs[controller] = folder
        self._write("cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
        self._write("cpu", "cpu.cfs_quota_us", int(self.cpus * CFS_PERIOD_US))
        self._write("memory", "memory.limit_in_bytes", self.memory_bytes)
        return self

    def _write(self, controller, name, value):
        with open(os.path.join(self.dirs[controller], name), "w") as handle:
            handle.write("%s\n" % value)

    def add(self, pid):
        for controller in self.dirs:
            self._write(controller, "cgroup.procs", pid)

    def wrap(self, command):
        """A shell command line that enters these cgroups and then runs ``command`` (a list)."""
        moves = " && ".join("echo $$ > %s" % shlex.quote(os.path.join(folder, "cgroup.procs"))
                            for folder in self.dirs.values())
        return ["/bin/sh", "-c", "%s && exec %s" % (moves, " ".join(shlex.quote(arg) for arg in command))]

    def remove(self):
        """Remove the groups; their processes must have ended. Waits briefly for the kernel."""
        for folder in self.dirs.values():
            deadline = time.monotonic() + 10
            while os.path.isdir(folder):
                try:
                    os.rmdir(folder)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        self.dirs = {}

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc_info):
        self.remove()
