#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_probe
short_description: Probe a Redis server over a real connection
version_added: 1.0.0
description:
  - Connects to Redis as the gateway would, times a series of C(PING)s and reads C(INFO) -
    the version, role, client limit and clients connected, memory and cluster mode.
  - Returns C(clients_available), the connections a new client such as the gateway can still
    open, for sizing the gateway's Redis pools.
  - An unreachable server, a wrong password or a TLS failure is reported as data, with
    RV(reachable=false) and a clear RV(error), not as a task failure, unless
    O(fail_unreachable=true).
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
extends_documentation_fragment:
  - mcpgateway.tuning.redis
  - mcpgateway.tuning.probe
notes:
  - The probe's own connection is not counted in RV(connected_clients) and RV(clients_available).
  - Redis 7 reports C(maxclients) in C(INFO); for older servers the probe reads it with
    C(CONFIG GET maxclients), which the ACL user must be allowed to run, or takes O(maxclients).
options:
  maxclients:
    description:
      - The server's C(maxclients), for a server before Redis 7 that does not let this user read it
        (C(CONFIG) renamed or disabled, as managed services do, or denied by an ACL); for example from the
        provider's documentation of the node type (1 to 1000000).
      - Used only when C(INFO) does not report it; the probe then does not run C(CONFIG GET). The result's
        RV(maxclients_source) says where the figure came from.
    type: int
"""

EXAMPLES = r"""
- name: Probe the gateway's Redis by its URL
  mcpgateway.tuning.redis_probe:
    url: "{{ gateway_redis_url }}"
  register: redis_state

- name: Probe an ACL user over TLS and fail if it cannot connect
  mcpgateway.tuning.redis_probe:
    host: redis.internal
    port: 6380
    username: gateway
    password: "{{ vault_redis_password }}"
    tls: true
    tls_ca_cert: /etc/ssl/certs/internal-ca.pem
    timeout: 3
    fail_unreachable: true
"""

RETURN = r"""
reachable:
  description: Whether the server answered and the figures could be read.
  returned: always
  type: bool
  sample: true
error:
  description: Why the server could not be reached or read, with what to check; null when reachable.
  returned: always
  type: str
  sample: "connection refused by redis://127.0.0.1:6390/0: nothing listens there; check host and port"
stalled_phase:
  description: What the probe was doing when its O(deadline) passed (the server is then not reachable); null otherwise.
  returned: always
  type: str
  sample: "sending INFO"
endpoint:
  description: Where the probe connected, without credentials.
  returned: always
  type: str
  sample: redis://127.0.0.1:6379/0
tls:
  description: Whether TLS was used.
  returned: always
  type: bool
latency_ms:
  description: C(PING) round trips in milliseconds (C(samples), C(min), C(p50), C(p99), C(max)).
  returned: always
  type: dict
  sample: {samples: 10, min: 0.05, p50: 0.07, p99: 0.2, max: 0.21}
version:
  description: Server version (C(valkey_version) for Valkey).
  returned: always
  type: str
  sample: 7.0.15
server_name:
  description: V(redis), or V(valkey) for Valkey servers.
  returned: always
  type: str
mode:
  description: C(redis_mode) from INFO, V(standalone), V(cluster) or V(sentinel).
  returned: always
  type: str
role:
  description: V(master) or V(slave) (a replica).
  returned: always
  type: str
maxclients:
  description: The server's client limit.
  returned: always
  type: int
  sample: 10000
maxclients_source:
  description: Where RV(maxclients) came from, C(INFO) (Redis 7), C(CONFIG GET) or C(given) (O(maxclients)).
  returned: always
  type: str
  sample: INFO
connected_clients:
  description: Clients connected besides the probe; INFO leaves replicas out of it.
  returned: always
  type: int
replicas:
  description: Replicas attached to this server (C(connected_slaves)); each holds a client slot.
  returned: always
  type: int
cluster_connections:
  description: Cluster bus connections, which Redis counts against C(maxclients) too; 0 outside a cluster.
  returned: always
  type: int
blocked_clients:
  description: Clients blocked in a blocking command.
  returned: always
  type: int
maxmemory:
  description: The memory limit in bytes, 0 for none.
  returned: always
  type: int
maxmemory_policy:
  description: Eviction policy.
  returned: always
  type: str
used_memory:
  description: Memory used by the server, in bytes.
  returned: always
  type: int
cluster_enabled:
  description: Whether the server runs in cluster mode.
  returned: always
  type: bool
clients_available:
  description: C(maxclients) minus RV(connected_clients), RV(replicas) and RV(cluster_connections), the connections still free.
  returned: always
  type: int
  sample: 9990
clients_by_address:
  description:
    - The probing user's clients (the probe's own connection left out) by the address they come from, C(local) for a
      unix socket; every client where the server names no users (Redis before 6). V(null) where the user may not run
      C(CLIENT LIST) and C(CLIENT ID).
    - M(mcpgateway.tuning.worker_plan) tells by it the connections of the fleet's hosts outside its run.
  returned: always
  type: dict
  sample: {10.0.0.12: 96, local: 1}
  version_added: 1.1.0
saturated:
  description:
    - Whether Redis refused the probe because its clients had reached C(maxclients), full but not down.
      RV(clients_available) is then V(0); RV(error) says what to do, and RV(reachable) is V(false), since no command
      could be sent.
    - Who holds the slots decides what a plan may count on. M(mcpgateway.tuning.worker_plan) counts the connections
      the gateways hold (M(mcpgateway.tuning.held_connections)) as what their new pools may use, which is how a
      tuning gives back the slots that untuned gateways' pools took.
  returned: always
  type: bool
  version_added: 1.1.0
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mcpgateway.tuning.plugins.module_utils.redis_client import (
    REDIS_IMPORT_ERROR,
    REDIS_MUTUALLY_EXCLUSIVE,
    REDIS_PIP_HINT,
    RedisProbeError,
    empty_result,
    endpoint_of,
    probe_redis,
    redis_argument_spec,
    url_has_password,
)
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import (
    exit_with_probe,
    probe_argument_spec,
    probe_within_deadline,
    show_when_credential_free,
)


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(probe_argument_spec())
    argument_spec.update(maxclients=dict(type="int"))
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=REDIS_MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    if REDIS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib(REDIS_PIP_HINT), exception=REDIS_IMPORT_ERROR)
    show_when_credential_free(module, "url", url_has_password)
    params = module.params
    result = probe_within_deadline(module, lambda progress: probe_redis(params, progress=progress),
                                   lambda: empty_result(params, endpoint_of(params)), RedisProbeError)
    exit_with_probe(module, result)


if __name__ == "__main__":
    main()
