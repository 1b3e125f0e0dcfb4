# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers of the files and outputs capacity.py reads: /proc, cgroup v1 and v2 interface files,
and systemd's properties of a unit.

Each function takes the text as read and returns plain values, so that unit tests call them with
the texts real kernels and systemd versions write.
"""

from __future__ import annotations

import posixpath
import re

# Limits at or above this are "unlimited" whatever the page size: the cgroup v1 sentinel is
# LONG_MAX rounded down to a page (9223372036854771712 with 4 KiB pages).
UNLIMITED_THRESHOLD = 2 ** 62

DEFAULT_CFS_PERIOD_US = 100000


def parse_cpu_list(text):
    """'0-1,4' or '0 1 4' -> [0, 1, 4]. An empty list or None gives []."""
    cpus = set()
    if not text:
        return []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        if "-" in part:
            first, last = part.split("-", 1)
            cpus.update(range(int(first), int(last) + 1))
        else:
            cpus.add(int(part))
    return sorted(cpus)


def parse_proc_cgroup(text):
    """Parse /proc/PID/cgroup into (v2 path or None, {v1 controller: path}).

    Lines are ``id:controllers:path``; the path itself may contain colons, so only the
    first two are split. Named v1 hierarchies (name=systemd) are no resource controllers.
    """
    v2_path = None
    v1_paths = {}
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2_path = path
            continue
        for controller in controllers.split(","):
            if controller and not controller.startswith("name="):
                v1_paths[controller] = path
    return v2_path, v1_paths


def parse_mountinfo(text):
    """The cgroup mounts of /proc/PID/mountinfo as dicts (root, mount_point, fstype, options).

    Fields before the ' - ' separator are split on spaces; after it only the first two
    spaces separate fields, since super options may contain spaces (WSL).
    """
    mounts = []
    for line in (text or "").splitlines():
        if " - " not in line:
            continue
        before, after = line.split(" - ", 1)
        fields = before.split()
        tail = after.split(" ", 2)
        if len(fields) < 5 or len(tail) < 2:
            continue
        fstype = tail[0]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        super_options = tail[2].split(",") if len(tail) > 2 else []
        mounts.append({
            "root": _unescape_mount_field(fields[3]),
            "mount_point": _unescape_mount_field(fields[4]),
            "fstype": fstype,
            "options": [option.strip() for option in super_options],
        })
    return mounts


def _unescape_mount_field(field):
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def parse_meminfo(text):
    """/proc/meminfo -> {key: bytes} for the kB-valued lines."""
    values = {}
    for line in (text or "").splitlines():
        match = re.match(r"^(\w+(?:\(\w+\))?):\s+(\d+)\s*(kB)?\s*$", line)
        if match:
            number = int(match.group(2))
            values[match.group(1)] = number * 1024 if match.group(3) else number
    return values


def parse_status_cpus(text):
    """Cpus_allowed_list of /proc/PID/status -> list of CPU numbers, or None."""
    for line in (text or "").splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return parse_cpu_list(line.split(":", 1)[1])
    return None


def parse_cpu_max(text):
    """cgroup v2 cpu.max ('150000 100000', 'max 100000', '50000') -> CPUs as float, or None."""
    if text is None:
        return None
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    quota = int(fields[0])
    period = int(fields[1]) if len(fields) > 1 else DEFAULT_CFS_PERIOD_US
    if quota <= 0 or period <= 0:
        return None
    return quota / float(period)


def parse_cfs_quota(quota_text, period_text):
    """cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us -> CPUs as float, or None (-1)."""
    if quota_text is None:
        return None
    quota = int(quota_text.strip())
    period = int(period_text.strip()) if period_text and period_text.strip() else DEFAULT_CFS_PERIOD_US
    if quota <= 0 or period <= 0:
        return None
    return quota / float(period)


def parse_limit_bytes(text):
    """A memory limit file or property ('max', 'infinity', '', a number) -> bytes or None."""
    if text is None:
        return None
    value = text.strip()
    if value in ("", "max", "infinity", "[not set]"):
        return None
    number = int(value)
    if number >= UNLIMITED_THRESHOLD:
        return None
    return number


def parse_memory_stat(text):
    """memory.stat -> {key: int}."""
    values = {}
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            values[fields[0]] = int(fields[1])
    return values


_TIMESPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "µs": 1e-6,
    "ms": 1e-3, "msec": 1e-3,
    "s": 1.0, "sec": 1.0, "": 1.0,
    "min": 60.0, "m": 60.0,
    "h": 3600.0, "hr": 3600.0,
}


def parse_systemd_timespan(text):
    """A systemd time span as 'systemctl show' prints it ('1.500000s', '500ms', '1s 500ms',
    'infinity') -> seconds as float, or None for infinity or an empty value."""
    if text is None:
        return None
    value = text.strip()
    if value in ("", "infinity"):
        return None
    total = 0.0
    for number, unit in re.findall(r"([0-9]*\.?[0-9]+)\s*([a-zµ]*)", value):
        if unit not in _TIMESPAN_UNITS:
            raise ValueError("unknown time unit %r in %r" % (unit, text))
        total += float(number) * _TIMESPAN_UNITS[unit]
    return total


def slice_cgroup_path(slice_name):
    """systemd slice name -> its cgroup path: 'a-b.slice' lives at /a.slice/a-b.slice."""
    if not slice_name or slice_name == "-.slice":
        return "/"
    stem = slice_name[:-len(".slice")] if slice_name.endswith(".slice") else slice_name
    parts = stem.split("-")
    path = ""
    for index in range(len(parts)):
        path += "/" + "-".join(parts[:index + 1]) + ".slice"
    return path


def unit_cgroup_path(unit, properties):
    """The cgroup path of a unit: ControlGroup while it runs, else where systemd will put it."""
    control_group = (properties.get("ControlGroup") or "").strip()
    if control_group:
        return control_group
    return posixpath.join(slice_cgroup_path(properties.get("Slice") or "system.slice"), unit)


def parse_systemctl_show(text):
    """'Key=Value' lines of 'systemctl show' -> dict."""
    properties = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            properties[key] = value
    return properties


def parse_oom_kills(text):
    """The oom_kill count of cgroup v2's memory.events or v1's memory.oom_control (kernel 4.13 and
    later), or None where the file or the line is missing."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "oom_kill" and parts[1].isdigit():
            return int(parts[1])
    return None


def parse_status_rss_kib(text):
    """VmRSS of /proc/PID/status in KiB; 0 for a kernel thread or a zombie, which have none."""
    for line in (text or "").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def parse_stat_ppid(text):
    """The parent PID of /proc/PID/stat; the command name in parentheses may hold spaces and
    parentheses, so the fields are those after the last ")"."""
    fields = (text or "").rsplit(")", 1)
    if len(fields) != 2 or len(fields[1].split()) < 2:
        return None
    return int(fields[1].split()[1])


def parse_pss_kib(text):
    """Pss of /proc/PID/smaps_rollup in KiB (kernel 4.14 and later), or None: the process's share
    of the pages it maps, so that the workers a preloading master forked do not count the pages
    they share with it once each, as their VmRSS does."""
    for line in (text or "").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None
