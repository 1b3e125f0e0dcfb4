# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a tuning reaches the running gateway: a graceful reload or a restart, and the workers a
Gunicorn master runs (to see a reload through).

Gunicorn re-reads its configuration file on SIGHUP: it starts workers on the new settings and lets
the old ones finish their requests, on the same listening socket, so no request is refused. What
it reads only when it starts is left to a restart: the environment (tuning.env, the gateway's
settings and pools), the listening socket (backlog), the preloaded application and the worker
class. Granian reads its settings only at start.
"""

from __future__ import annotations

import os

RELOADABLE_GUNICORN_SETTINGS = frozenset(("workers", "timeout", "graceful_timeout", "keepalive", "max_requests",
                                          "max_requests_jitter"))


def apply_method(written, gunicorn_config, server, previous_server, changes, allow_reload=True, running=True):
    """{method, reason}: "none" when no file was written, "reload" when only reloadable settings of
    gunicorn_config changed on a running gateway that already ran Gunicorn, else "restart".

    written: the paths written; changes: setting_changes of gunicorn_config ([{name, ...}]);
    running: whether the gateway runs now (its main process)."""
    if not written:
        return {"method": "none", "reason": "no file changed"}
    if not running:
        return {"method": "restart", "reason": "the gateway is not running: it starts on the new files"}
    if not allow_reload:
        return {"method": "restart", "reason": "tune_graceful_reload is false"}
    if server != "gunicorn":
        return {"method": "restart", "reason": "%s reads its settings only when it starts" % server}
    if previous_server != "gunicorn":
        return {"method": "restart", "reason": "the server changes from %s to gunicorn" % previous_server}
    others = sorted(path for path in written if path != gunicorn_config)
    if others:
        return {"method": "restart", "reason": "%s changed: the gateway reads its environment only when it starts"
                % ", ".join(os.path.basename(path) for path in others)}
    names = sorted(change["name"] for change in changes)
    fixed = [name for name in names if name not in RELOADABLE_GUNICORN_SETTINGS]
    if fixed:
        return {"method": "restart", "reason": "%s %s: Gunicorn applies %s only when it starts"
                % (", ".join(fixed), "changes" if len(fixed) == 1 else "change", "it" if len(fixed) == 1 else "them")}
    return {"method": "reload",
            "reason": "only %s of %s changed: Gunicorn re-reads it on SIGHUP, starts workers on it and lets the "
                      "old ones finish their requests" % (", ".join(names) or "comments", os.path.basename(gunicorn_config))}


def server_workers(ps_text, main_pid):
    """The PIDs of the workers of the Gunicorn master that main_pid is, or starts (a supervising
    script's child), from `ps -ww -e -o pid=,ppid=,args=`: the master's children that run its command
    line, as a worker forked from it does, or that setproctitle names "gunicorn: worker"; what a
    worker starts in turn is not a worker."""
    processes = []
    for line in (ps_text or "").splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[0].isdigit() and fields[1].isdigit():
            processes.append((int(fields[0]), int(fields[1]), fields[2]))
    main_pid = int(main_pid)
    args_of = dict((pid, args) for pid, dummy, args in processes)
    masters = [main_pid] if "gunicorn" in args_of.get(main_pid, "") else [
        pid for pid, parent, args in processes if parent == main_pid and "gunicorn" in args]
    if len(masters) != 1:
        return []
    master = masters[0]
    return sorted(pid for pid, parent, args in processes
                  if parent == master and (args == args_of[master] or args.startswith("gunicorn: worker")))
