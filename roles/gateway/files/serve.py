# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the gateway's HTTP server: Gunicorn or Granian, as MCPGATEWAY_HTTP_SERVER says.

The service (systemd's unit or supervisord's program) runs this script with the environment of
the gateway's files already loaded. The server is a setting of those files, not of the unit, so
the tuning roles switch it, and roll the switch back, by rewriting a file and restarting:

- gunicorn (the default): gunicorn -c CONFIG_DIR/gunicorn.conf.py APP
- granian: granian --host $HOST --port $PORT APP, its other settings from the GRANIAN_* variables

Without --supervise the script becomes the server (exec), so systemd's main PID is the server's
master. With --supervise (under supervisord) it keeps the server as its child, because
supervisord tracks only the process it started. The gateway's workers fork helper processes that
catch SIGTERM without exiting and keep the listening socket: when the master stops, or is killed
with SIGKILL, they live on and every restart fails with "Address already in use". systemd avoids
this by stopping the unit's whole cgroup; with --supervise this script does it for the process
group supervisord gives the program:

- before starting, it stops the process groups that servers of this virtual environment left
  behind (for when this script itself was killed);
- it passes the server the signals supervisord and operators send;
- when the server exits, for whatever reason, it stops the rest of its process group (TERM,
  then KILL after a grace period) and exits as the server did.

Usage: python serve.py [--supervise] --venv VENV --config-dir CONFIG_DIR APP
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 10
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


SERVERS = ("gunicorn", "granian")


def server_command(server, venv, config_dir, app, environment):
    """The command line of the chosen server."""
    if server == "gunicorn":
        return [os.path.join(venv, "bin", "gunicorn"), "-c", os.path.join(config_dir, "gunicorn.conf.py"), app]
    if server == "granian":
        return [os.path.join(venv, "bin", "granian"), "--host", environment.get("HOST", "127.0.0.1"),
                "--port", environment.get("PORT", "4444"), app]
    raise ValueError("MCPGATEWAY_HTTP_SERVER is %r: it must be one of %s" % (server, ", ".join(SERVERS)))


def server_executables(venv):
    """Every server this virtual environment can run, so that a switch of server also finds them."""
    return [os.path.join(venv, "bin", name).encode() for name in SERVERS]


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


def supervise(command, venv):
    """Run command as a child and make sure no process of its group outlives it; exit as it did."""
    # supervisord already makes the program a process group of its own; this makes sure of it.
    os.setpgrp()
    own_group = os.getpgid(0)
    groups = leftover_groups(server_executables(venv), own_group)
    if groups:
        sys.stderr.write("stopping process groups %s left by a server that was killed\n"
                         % ", ".join(str(group) for group in sorted(groups)))
        stop_processes([pid for pid, group, _arguments in processes() if group in groups], GRACE_SECONDS)

    server = subprocess.Popen(command)  # pylint: disable=consider-using-with
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


def main(argv):
    parser = argparse.ArgumentParser(description="Start the gateway's HTTP server chosen by MCPGATEWAY_HTTP_SERVER.")
    parser.add_argument("--supervise", action="store_true",
                        help="keep the server as a child and stop its whole process group when it exits")
    parser.add_argument("--venv", required=True, help="the gateway's virtual environment")
    parser.add_argument("--config-dir", required=True, help="the folder of gunicorn.conf.py")
    parser.add_argument("app", help="the application, for example mcpgateway.main:app")
    options = parser.parse_args(argv[1:])
    try:
        command = server_command(os.environ.get("MCPGATEWAY_HTTP_SERVER", "gunicorn"), options.venv,
                                 options.config_dir, options.app, os.environ)
    except ValueError as error:
        sys.exit(str(error))
    sys.stderr.write("starting %s\n" % " ".join(command))
    sys.stderr.flush()
    if options.supervise:
        supervise(command, options.venv)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
