#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: held_connections
short_description: Count the TCP connections a running service holds to PostgreSQL and Redis
version_added: 1.0.0
description:
  - Counts the established TCP connections that a process and all its descendants (a Gunicorn or
    Granian master, its workers and their helpers) hold to each given server, from C(/proc).
  - M(mcpgateway.tuning.postgres_probe) and M(mcpgateway.tuning.redis_probe) count these connections as
    in use. They are released when the service restarts, so M(mcpgateway.tuning.worker_plan) adds them
    back (its C(current_db_connections) and C(current_redis_connections)); without that, a plan would
    depend on what the previous plan's pools held at the time.
  - Only the service's own sockets count, by their inodes, even when other hosts or containers share
    the network namespace.
  - Reading another user's file descriptors needs root or the same user as the service.
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
  pid:
    description: The service's main process, for example systemd's C(MainPID) or supervisord's program PID.
    type: int
    required: true
  endpoints:
    description:
      - Servers to count connections to, by a name of your choice, as URLs without or with credentials,
        for example the C(endpoint) the probes return (C(postgresql://db:5432/mcp), C(redis://cache:6379/0)).
      - Host names are resolved; a missing port is the scheme's default (5432, 6379). A unix socket
        cannot be told apart by address and is returned as null.
      - A value that is not such a URL fails the task, naming its key (never its text).
    type: dict
    required: true
notes:
  - Linux only.
"""

EXAMPLES = r"""
- name: Read the unit's main process
  ansible.builtin.command:
    argv: [systemctl, show, mcpgateway.service, --property=MainPID, --value]
  register: main_pid
  changed_when: false

- name: Count what the gateway holds now
  mcpgateway.tuning.held_connections:
    pid: "{{ main_pid.stdout | int }}"
    endpoints:
      postgres: "{{ database.endpoint }}"
      redis: "{{ cache.endpoint }}"
  register: held            # held.connections.postgres, held.connections.redis
"""

RETURN = r"""
connections:
  description: For each name of O(endpoints), the established connections of the process tree; null for a unix socket.
  returned: success
  type: dict
  sample: {postgres: 12, redis: 31}
processes:
  description: Processes in the tree (0 when the PID does not exist).
  returned: success
  type: int
  sample: 9
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgateway.tuning.plugins.module_utils.held_connections import (
    endpoint_problems,
    held_connections,
)
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import PID_RANGE, fail_outside_ranges


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pid=dict(type="int", required=True),
            # URLs may carry passwords; the result never shows them.
            endpoints=dict(type="dict", required=True, no_log=True),
        ),
        supports_check_mode=True,
    )
    fail_outside_ranges(module, {"pid": PID_RANGE})
    problem = endpoint_problems(module.params["endpoints"])
    if problem:
        module.fail_json(msg=problem)
    counts, processes = held_connections(module.params["pid"], module.params["endpoints"])
    module.exit_json(changed=False, connections=counts, processes=processes)


if __name__ == "__main__":
    main()
