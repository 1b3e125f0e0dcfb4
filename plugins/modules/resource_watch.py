#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: resource_watch
short_description: Watch a gateway's peak memory, OOM kills and PostgreSQL sessions while a load runs
version_added: 1.0.0
description:
  - Samples, every O(interval) seconds until O(stop_file) exists or O(max_seconds) pass, the memory of a
    process and all its descendants (a Gunicorn or Granian master, its workers and helpers) as the sum of their
    proportional set sizes (C(Pss) of C(smaps_rollup), C(VmRSS) on kernels without it), so that pages a
    preloading master shares with its workers count once,
    and, with a database connection, the sessions a PostgreSQL role holds (C(pg_stat_activity)).
  - Returns the peaks, and the OOM kills the kernel counted in the process's memory cgroup during the
    watch (cgroup v2 C(memory.events), v1 C(memory.oom_control)).
  - Meant to run asynchronously (C(async), C(poll=0)) beside M(mcpgateway.tuning.load_test), then to be
    stopped by creating O(stop_file) and collected with M(ansible.builtin.async_status), as the
    C(mcpgateway.tuning.benchmark) role does.
  - Its own database session is not counted, but it takes one of the server's slots; where the gateway's
    role is at its limit, connect as another role and name the gateway's in O(database_role).
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
extends_documentation_fragment:
  - mcpgateway.tuning.postgres
attributes:
  check_mode:
    support: full
    description: The module only reads; it samples in check mode too.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
options:
  pid:
    description: The gateway's main process, for example systemd's C(MainPID) or supervisord's program PID.
    type: int
    required: true
  stop_file:
    description:
      - The watch ends at the first sample after this file exists; the module removes it when it ends.
      - Remove it before the watch starts, since a file left from an earlier watch ends the next one at once.
    type: path
    required: true
  max_seconds:
    description: The watch ends after this many seconds in any case (1 to 3600).
    type: float
    default: 900
  interval:
    description: Seconds between samples (0.1 to 10).
    type: float
    default: 0.5
  log_file:
    description:
      - The gateway's log file (supervisord's C(stdout_logfile) of the program). The lines it gains during the
        watch are read for PostgreSQL refusing sessions (C(too many clients), C(too many connections for role),
        C(remaining connection slots are reserved)) and pool timeouts (C(QueuePool limit)), counted in RV(log_signs).
    type: path
  journal_unit:
    description: The gateway's systemd unit, whose journal since the watch started is read as O(log_file) is.
    type: str
  journal_match:
    description:
      - A journal field match, such as C(CONTAINER_NAME=mcpgateway) for a container whose engine logs to the journal
        (Podman's or Docker's C(journald) log driver); its entries since the watch started are read as O(log_file) is.
    type: str
  database_role:
    description:
      - The role whose sessions are counted; the role the watcher logs in as (C(session_user)) by default.
      - Sessions are only counted when O(dsn), O(host) or O(unix_socket_dir) is given.
    type: str
notes:
  - Linux only. Reading another user's processes needs root or the same user as the service.
"""

EXAMPLES = r"""
- name: Watch the gateway while the load runs
  mcpgateway.tuning.resource_watch:
    pid: "{{ main_pid }}"
    stop_file: /var/lib/mcpgateway/benchmark-watch.stop
    dsn: "{{ mcpgateway_database_url }}"
  async: 900
  poll: 0
  register: watch_job
"""

RETURN = r"""
peak_memory_mib:
  description: The highest memory of the process tree in a sample (sum of proportional set sizes), in MiB.
  returned: always
  type: float
oom_kills:
  description:
    - OOM kills in the process's memory cgroup during the watch; null where the kernel does not count them.
    - The counter is read at every sample. A cgroup made again under the same path (a container whose main process was
      killed, restarted by its engine) counts from 0, and its kills are added.
  returned: always
  type: int
main_process_exited:
  description:
    - Whether the process watched had exited at a sample. Its service manager or engine may have started another; the
      peak memory then covers the first one only.
  returned: always
  type: bool
peak_db_sessions:
  description: The most sessions of O(database_role) in a sample, the watcher's own excluded; null without a database.
  returned: always
  type: int
database_error:
  description: Why the sessions could not be counted, when the database could not be reached.
  returned: when the database could not be reached
  type: str
log_signs:
  description:
    - Lines of the gateway's log during the watch that show PostgreSQL refusing a session (C(refused)) or a
      pool timing out (C(pool_timeouts)), and how many lines were read (C(lines)).
  returned: with O(log_file), O(journal_unit) or O(journal_match)
  type: dict
  sample: {"refused": 212, "pool_timeouts": 0, "lines": 1840}
samples:
  description: How many samples were taken.
  returned: always
  type: int
seconds:
  description: How long the watch ran.
  returned: always
  type: float
memory_cgroup:
  description: The folder of the memory cgroup whose OOM kills were counted.
  returned: always
  type: str
stopped_by:
  description: C(stop file) or C(max_seconds).
  returned: always
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, PID_RANGE, fail_outside_ranges
from ansible_collections.mcpgateway.tuning.plugins.module_utils.postgres_client import (
    DRIVER,
    PSYCOPG_IMPORT_ERROR,
    PSYCOPG_PIP_HINT,
    POSTGRES_MUTUALLY_EXCLUSIVE,
    PostgresProbeError,
    check_options,
    connect,
    driver_errors,
    endpoint_of,
    explain_error,
    postgres_argument_spec,
)
from ansible_collections.mcpgateway.tuning.plugins.module_utils.resource_usage import (
    SESSIONS_QUERY,
    database_exhaustion_signs,
    file_size,
    lines_since,
    watch,
)


def session_counter(connection, role, errors, describe):
    """A callable that counts role's sessions (role None: the watcher's login role). A sample the
    server does not answer counts None, and the first such error is kept in errors."""
    cursor = connection.cursor()
    if role is None:
        cursor.execute("SELECT session_user")
        role = cursor.fetchone()[0]

    def count():
        try:
            cursor.execute(SESSIONS_QUERY, (role,))
            return int(cursor.fetchone()[0])
        except driver_errors() as error:
            errors.append(describe(error))
            return None
    return count


def remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        pid=dict(type="int", required=True),
        stop_file=dict(type="path", required=True),
        max_seconds=dict(type="float", default=900),
        interval=dict(type="float", default=0.5),
        database_role=dict(type="str"),
        log_file=dict(type="path"),
        journal_unit=dict(type="str"),
        journal_match=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec,
                           mutually_exclusive=POSTGRES_MUTUALLY_EXCLUSIVE + [("log_file", "journal_unit", "journal_match")],
                           supports_check_mode=True)
    params = module.params
    fail_outside_ranges(module, {"pid": PID_RANGE, "max_seconds": (1, HOUR, "seconds"),
                                 "interval": (0.1, 10, "seconds")})

    result = dict(changed=False)
    connection = count_sessions = None
    errors = []
    if params["dsn"] or params["host"] or params["unix_socket_dir"]:
        if DRIVER is None:
            module.fail_json(msg="counting PostgreSQL sessions needs %s" % PSYCOPG_PIP_HINT,
                             exception=PSYCOPG_IMPORT_ERROR)
        try:
            check_options(params)
        except PostgresProbeError as error:
            module.fail_json(msg=str(error))

        def describe(error):
            return explain_error(error, endpoint_of(params), params["connect_timeout"])
        try:
            connection = connect(params)
            count_sessions = session_counter(connection, params["database_role"], errors, describe)
        except driver_errors() + (OSError,) as error:
            errors.append(describe(error))
    log_offset = file_size(params["log_file"]) if params["log_file"] else None
    started = time.time()
    try:
        result.update(watch(params["pid"], params["stop_file"], params["max_seconds"], params["interval"],
                            count_sessions))
    except ValueError as error:
        module.fail_json(msg=str(error))
    finally:
        if connection is not None:
            connection.close()
        remove(params["stop_file"])
    if errors:
        result["database_error"] = errors[0]
    if params["log_file"]:
        result["log_signs"] = database_exhaustion_signs(lines_since(params["log_file"], log_offset))
    elif params["journal_unit"] or params["journal_match"]:
        selection = ["--unit", params["journal_unit"]] if params["journal_unit"] else [params["journal_match"]]
        # A whole second earlier: journalctl's --since reads whole seconds.
        command = ["journalctl"] + selection + ["--since", "@%d" % (started - 1), "--output", "cat", "--no-pager",
                                                "--quiet"]
        rc, out, err = module.run_command(command)
        if rc != 0:
            module.fail_json(msg="journalctl could not read the journal of %s: %s" % (selection[-1], err.strip()))
        result["log_signs"] = database_exhaustion_signs(out.splitlines())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
