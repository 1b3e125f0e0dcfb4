#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Take a gateway replica out of HAProxy's rotation and put it back, waiting for each
version_added: 1.1.0
description:
  - Sets the administrative state of one server of an HAProxy backend through HAProxy's runtime
    API (its stats socket at C(level admin)), and waits for what the state means.
  - V(drain) stops new requests to the server and waits until the requests it has are answered
    (no current session, none queued), so that a restart that follows loses none.
  - V(ready) puts it back and waits until HAProxy's health check sees it C(UP), so that a rolling
    restart does not take the next replica out while this one is not yet taking requests.
  - V(maint) stops all traffic to it at once.
  - V(drain) and V(maint) are refused, changing nothing, when no other server of the backend takes
    requests, which would be an outage, not a rolling restart.
  - Run it on the load balancer's host (C(delegate_to)) for a unix socket.
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
attributes:
  check_mode:
    support: full
    description: Reads the server's state and reports whether it would change; sends nothing.
  diff_mode:
    support: none
    description: The state before and after are returned instead.
options:
  socket:
    description:
      - HAProxy's stats socket, a unix socket path (C(stats socket /run/haproxy/admin.sock level admin))
        or C(host:port) of a TCP one.
    type: str
    required: true
  backend:
    description: The backend that holds the gateway replicas.
    type: str
    required: true
  server:
    description: The server of O(backend) to change, as the configuration names it.
    type: str
    required: true
  state:
    description: The administrative state to set.
    type: str
    choices: [ready, drain, maint]
    required: true
  wait_timeout:
    description:
      - Seconds to wait for a drained server to finish its requests, or for a ready one to be C(UP).
        The task fails when the time runs out, naming what was left.
      - V(0) does not wait.
    type: int
    default: 60
  timeout:
    description: Seconds each command on the socket may take.
    type: float
    default: 5
requirements:
  - HAProxy 2.0 or later, with a stats socket at C(level admin) that the task's account can use.
seealso:
  - name: HAProxy management guide, the runtime API
    description: The commands this module sends (set server, show stat).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Take this replica out of rotation before its restart
  mcpgateway.tuning.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: mcpgateway
    server: "{{ inventory_hostname }}"
    state: drain
  delegate_to: lb1

- name: Put it back once it is ready, and wait until HAProxy sees it up
  mcpgateway.tuning.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: mcpgateway
    server: "{{ inventory_hostname }}"
    state: ready
  delegate_to: lb1
"""

RETURN = r"""
previous_state:
  description: The server's administrative state before the task.
  returned: success
  type: str
  sample: ready
status:
  description: HAProxy's status of the server at the end, for example C(UP), C(DRAIN) or C(MAINT).
  returned: success
  type: str
  sample: DRAIN
sessions:
  description: The server's current sessions at the end.
  returned: success
  type: int
  sample: 0
waited:
  description: Seconds the task waited for the state to take effect.
  returned: success
  type: float
  sample: 1.2
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mcpgateway.tuning.plugins.module_utils.haproxy_runtime import (
    STATES,
    HAProxyError,
    check_answer,
    others_running,
    parse_address,
    parse_servers_state,
    parse_stat,
    send,
    server_view,
)
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, fail_outside_ranges

RANGES = {"wait_timeout": (0, HOUR, "seconds"), "timeout": (0.1, 600, "seconds")}
POLL_SECONDS = 0.5


def read_servers(params):
    return parse_servers_state(send(params["socket"], "show servers state %s" % params["backend"],
                                    params["timeout"]), params["backend"])


def read_row(params, servers=None):
    servers = servers if servers is not None else read_servers(params)
    stats = parse_stat(send(params["socket"], "show stat", params["timeout"]))
    return server_view(servers, stats, params["backend"], params["server"])


def settled(state, row):
    """Whether the state took effect: a drained server is empty, a ready one takes traffic."""
    if state == "drain":
        return row["scur"] == 0 and row["qcur"] == 0
    if state == "ready":
        return row["running"]
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", required=True),
            backend=dict(type="str", required=True),
            server=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), required=True),
            wait_timeout=dict(type="int", default=60),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    fail_outside_ranges(module, RANGES)
    try:
        parse_address(params["socket"])
        servers = read_servers(params)
        row = read_row(params, servers)
    except HAProxyError as error:
        module.fail_json(msg=str(error))
    previous = row["admin_state"]
    changed = previous != params["state"]
    if changed and params["state"] != "ready" and not others_running(servers, params["server"]):
        module.fail_json(msg="no other server of backend %s takes requests now: taking %s out (%s) would leave "
                             "none, so it stays %s. Bring another replica up first" % (
                                 params["backend"], params["server"], params["state"], previous),
                         previous_state=previous, status=row["status"], sessions=row["scur"])
    if module.check_mode:
        module.exit_json(changed=changed, previous_state=previous, status=row["status"], sessions=row["scur"],
                         waited=0.0)
    started = time.monotonic()
    try:
        if changed:
            check_answer(send(params["socket"], "set server %s/%s state %s" % (
                params["backend"], params["server"], params["state"]), params["timeout"]))
            row = read_row(params)
        while params["wait_timeout"] and not settled(params["state"], row):
            if time.monotonic() - started > params["wait_timeout"]:
                left = ("%d sessions and %d queued requests left" % (row["scur"], row["qcur"])
                        if params["state"] == "drain" else "status %s" % row["status"])
                module.fail_json(msg="%s/%s did not %s within %d s (%s): it stays %s" % (
                    params["backend"], params["server"], "drain" if params["state"] == "drain" else "come up",
                    params["wait_timeout"], left, params["state"]), previous_state=previous, status=row["status"],
                    sessions=row["scur"], changed=changed)
            time.sleep(POLL_SECONDS)
            row = read_row(params)
    except HAProxyError as error:
        module.fail_json(msg=str(error), changed=changed)
    module.exit_json(changed=changed, previous_state=previous, status=row["status"], sessions=row["scur"],
                     waited=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
