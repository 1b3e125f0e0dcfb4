# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the gateway's server under supervisord so that no process of it outlives it.

supervisord tracks only the process it started. The gateway's workers fork helper processes
that catch SIGTERM without exiting and keep the listening socket: when the Gunicorn master
stops, or is killed with SIGKILL, they live on and every restart fails with "Address already
in use". systemd avoids this by stopping the unit's whole cgroup. Here this script does it for
the process group supervisord gives the program:

- before starting, it stops the process groups that servers of this virtual environment left
  behind (for when this script itself was killed);
- it runs the server as its child and passes it the signals supervisord and operators send;
- when the server exits, for whatever reason, it stops the rest of its process group (TERM,
  then KILL after a grace period) and exits as the server did.

Usage: python supervised_start.py SERVER_EXECUTABLE [ARGUMENT ...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 10
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


def server_executables(executable):
    """Every server this virtual environment can run, so that a switch of server also finds them."""
    folder = os.path.dirname(executable)
    return [os.path.join(folder, name).encode() for name in ("gunicorn", "granian")]


def processes():
    """(pid, process group, command line arguments) of every process this account can see."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                arguments = handle.read().split(b"\0")
            yield int(entry), os.getpgid(int(entry)), arguments
        except OSError:
            continue


def leftover_groups(executables, own_group):
    """Process groups, other than ours, with a process that runs one of the executables."""
    return {group for _pid, group, arguments in processes()
            if group != own_group and any(argument in executables for argument in arguments[:2])}


def stop_processes(pids, grace_seconds):
    """TERM, then KILL what still runs after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_seconds
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            time.sleep(0.1)
        if not pids:
            return


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose; its parent reaps it.
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: supervised_start.py SERVER_EXECUTABLE [ARGUMENT ...]")
    # supervisord already makes the program a process group of its own; this makes sure of it.
    os.setpgrp()
    own_group = os.getpgid(0)
    groups = leftover_groups(server_executables(argv[1]), own_group)
    if groups:
        sys.stderr.write("stopping process groups %s left by a server that was killed\n"
                         % ", ".join(str(group) for group in sorted(groups)))
        stop_processes([pid for pid, group, _arguments in processes() if group in groups], GRACE_SECONDS)

    server = subprocess.Popen(argv[1:])  # pylint: disable=consider-using-with
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, lambda number, _frame: server.send_signal(number))
    returncode = server.wait()

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    rest = [pid for pid, group, _arguments in processes() if group == own_group and pid != os.getpid()]
    if rest:
        sys.stderr.write("stopping %d processes the server left behind\n" % len(rest))
        stop_processes(rest, GRACE_SECONDS)
    sys.exit(returncode if returncode >= 0 else 128 - returncode)


if __name__ == "__main__":
    main(sys.argv)
