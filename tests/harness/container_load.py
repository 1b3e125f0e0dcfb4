# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load on a gateway container, and what it costs the container: hey's authenticated tools/list
requests for a bounded time, and the container's OOM kills and peak memory read from its cgroup
(cgroup v1, as on the test machines) while the load runs."""

from __future__ import annotations

import os
import re
import subprocess
import threading

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import parse_hey
from harness.throwaway import LOOPBACK


def container_memory_cgroup(pid):
    with open("/proc/%d/cgroup" % pid) as handle:
        for line in handle:
            dummy, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return "/sys/fs/cgroup/memory" + path
    raise AssertionError("no memory cgroup for %d" % pid)


class MemoryWatch(threading.Thread):
    """The cgroup's OOM kills and peak memory, read every 0.2 s while the load runs: a container
    whose main process is killed takes its cgroup with it, so the highest figures read are kept."""

    def __init__(self, cgroup):
        super().__init__(daemon=True)
        self.cgroup = cgroup
        self.oom_kills = 0
        self.peak_mib = 0
        self.done = threading.Event()

    def read(self):
        try:
            # The highest figures read: a restarted container's cgroup starts again from 0.
            with open(os.path.join(self.cgroup, "memory.oom_control")) as handle:
                self.oom_kills = max(self.oom_kills, int(re.search(r"^oom_kill (\d+)$", handle.read(), re.M).group(1)))
            with open(os.path.join(self.cgroup, "memory.max_usage_in_bytes")) as handle:
                self.peak_mib = max(self.peak_mib, int(handle.read()) // (1024 * 1024))
        except OSError:
            self.done.set()

    def run(self):
        while not self.done.is_set():
            self.read()
            self.done.wait(0.2)

    def stop(self):
        self.read()
        self.done.set()
        self.join(5)
        return self.oom_kills, self.peak_mib


def kernel_oom_kills(container_id):
    """The OOM kills the kernel logged in the container's memory cgroup (named after its full ID by
    Podman and Docker), or None when the kernel log cannot be read. Unlike the cgroup's own counter,
    it outlives the cgroup: a container whose main process is killed gets a new one at its restart."""
    completed = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        return None
    return len([line for line in completed.stdout.splitlines() if "oom-kill:" in line and container_id in line])


def token(engine, name, email):
    """A token minted in the container by the gateway's own tool, with the container's key."""
    return engine.command("exec", name, "python", "-m", "mcpgateway.utils.create_jwt_token", "--username", email,
                          "--admin", "--exp", "30").splitlines()[-1]


def load(port, bearer, seconds):
    """hey's POST tools/list load for seconds, as load_report.parse_hey reads its output.
    Bounded in time, not in requests: workers killed over and over leave requests hanging until
    hey's 20 s timeout, and a count of requests would then take many minutes."""
    completed = subprocess.run(
        ["hey", "-z", "%ds" % seconds, "-c", "50", "-t", "20", "-m", "POST", "-H", "Authorization: Bearer " + bearer,
         "-H", "Content-Type: application/json", "-d", '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
         "http://%s:%d/rpc" % (LOOPBACK, port)], capture_output=True, text=True, timeout=seconds + 120,
        check=False)
    return parse_hey(completed.stdout)


def measure(host, email, seconds):
    """Load the running container of host (harness.container_host.ContainerHost) and say what
    happened: answers by status, requests without one by kind, its OOM kills (its cgroup's counter,
    or the kernel log's when it says more: a restart brings a new cgroup), the peak memory of its
    cgroup, the restarts of its main process, and its exit code when the load left it stopped."""
    state = host.inspect()
    logged_before = kernel_oom_kills(state["Id"])
    watch = MemoryWatch(container_memory_cgroup(state["State"]["Pid"]))
    watch.start()
    report = load(host.port, token(host.engine, host.name, email), seconds)
    oom_kills, peak_mib = watch.stop()
    logged_after = kernel_oom_kills(state["Id"])
    if logged_before is not None and logged_after is not None:
        oom_kills = max(oom_kills, logged_after - logged_before)
    after = host.inspect()
    answers = report["status_codes"]
    return {"answers": answers, "error_kinds": report["error_kinds"],
            "failed": sum(count for code, count in answers.items() if code != 200) + report["errors"],
            "requests": report["requests"], "oom_kills": oom_kills, "peak_mib": peak_mib,
            "restarts": after["RestartCount"] - state["RestartCount"],
            "exit_code": None if after["State"]["Running"] else after["State"]["ExitCode"]}


def describe(figures):
    """One line of a measure() result, for the test's output and docs/containers.md."""
    return ("%(failed)d of %(requests)d requests failed, %(oom_kills)d OOM kills, "
            "%(restarts)d restarts, peak %(peak_mib)d MiB, exit code %(exit_code)s; " % figures
            + "answers %s, errors %s" % (figures["answers"], figures["error_kinds"]))
