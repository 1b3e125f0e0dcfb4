#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_probe
short_description: Probe PostgreSQL or PgBouncer over a real connection and read its connection budget
version_added: 1.0.0
description:
  - Connects as the gateway would, times a series of C(SELECT 1) and reads the settings that
    bound how many connections the gateway may open, C(max_connections),
    C(superuser_reserved_connections), C(reserved_connections) (PostgreSQL 16 and later), the
    role's and the database's connection limits, and the connections other clients hold.
  - Returns RV(connections_available), what a new client of that role and database can still
    open, for sizing the gateway's database pools, and the limit that binds it.
  - Connected to PgBouncer's admin console (database C(pgbouncer)), it says so and reports
    PgBouncer's client limit instead.
  - An unreachable server, a wrong password or a TLS failure is reported as data, with
    RV(reachable=false) and a clear RV(error), not as a task failure, unless
    O(fail_unreachable=true).
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
extends_documentation_fragment:
  - mcpgateway.tuning.postgres
  - mcpgateway.tuning.probe
notes:
  - The probe's own connection is not counted in the connections in use.
  - A role that is not a superuser sees other roles' sessions without their state; those are
    counted under the state V(unknown).
"""

EXAMPLES = r"""
- name: Probe the gateway's database with its own DATABASE_URL
  mcpgateway.tuning.postgres_probe:
    dsn: "{{ gateway_database_url }}"
  register: database_state

- name: Stop when the database has no room for the gateway
  ansible.builtin.assert:
    that: database_state.connections_available >= 20
    fail_msg: "{{ database_state.connections_available_reason }}"

- name: Probe over TLS with a verified server certificate
  mcpgateway.tuning.postgres_probe:
    host: db.internal
    user: gateway
    password: "{{ vault_db_password }}"
    database: mcp
    sslmode: verify-full
    ssl_rootcert: /etc/ssl/certs/internal-ca.pem
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
  sample: "authentication to postgresql://127.0.0.1:5432/mcp failed (...): check user and password"
stalled_phase:
  description: What the probe was doing when its O(deadline) passed (the server is then not reachable); null otherwise.
  returned: always
  type: str
  sample: "asking whether it is PgBouncer (the first query)"
endpoint:
  description: Where the probe connected, without credentials.
  returned: always
  type: str
  sample: postgresql://127.0.0.1:5432/mcp
driver:
  description: The driver used, V(psycopg) or V(psycopg2).
  returned: always
  type: str
pgbouncer:
  description: Whether the server is PgBouncer's admin console.
  returned: always
  type: bool
pgbouncer_version:
  description: PgBouncer's version text, when RV(pgbouncer) is true.
  returned: always
  type: str
  sample: PgBouncer 1.18.0
pgbouncer_pool_mode:
  description: PgBouncer's C(pool_mode).
  returned: when RV(pgbouncer) is true
  type: str
pgbouncer_default_pool_size:
  description: PgBouncer's C(default_pool_size).
  returned: when RV(pgbouncer) is true
  type: int
latency_ms:
  description: Round trips in milliseconds (C(samples), C(min), C(p50), C(p99), C(max)).
  returned: always
  type: dict
server_version:
  description: C(server_version) of PostgreSQL.
  returned: always
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
server_version_num:
  description: C(server_version_num), for comparisons.
  returned: always
  type: int
  sample: 150018
max_connections:
  description: The server's C(max_connections) (PgBouncer's C(max_client_conn)).
  returned: always
  type: int
  sample: 100
superuser_reserved_connections:
  description: Slots only superusers may use.
  returned: always
  type: int
  sample: 3
reserved_connections:
  description: Slots for members of C(pg_use_reserved_connections) (PostgreSQL 16+), null before.
  returned: always
  type: int
connections_in_use:
  description:
    - Client connections held by others; C(total), C(role) (the probing role's), C(database)
      (on the probed database) and C(by_state).
    - C(role_by_address) counts the probing role's sessions by the address they come from, C(local) for a unix
      socket (a role sees its own sessions' addresses without C(pg_read_all_stats)). M(mcpgateway.tuning.worker_plan)
      tells by it the sessions of the fleet's hosts outside its run. Added in 1.1.0; PgBouncer reports none.
  returned: always
  type: dict
  sample: {total: 12, role: 4, database: 9, by_state: {idle: 10, active: 2}, role_by_address: {10.0.0.12: 3, local: 1}}
role:
  description:
    - The login role, C(name), C(superuser), C(can_use_reserved), C(connection_limit).
    - It is the role PostgreSQL applies its connection limits to (C(session_user)), also when sessions then act
      as another role (C(ALTER ROLE ... SET role), C(options=-c role=...) in the DSN, C(SET ROLE)).
  returned: always
  type: dict
database:
  description: The probed database, C(name) and C(connection_limit).
  returned: always
  type: dict
rolconnlimit:
  description: The login role's connection limit, -1 for none.
  returned: always
  type: int
datconnlimit:
  description: The database's connection limit, -1 for none.
  returned: always
  type: int
connections_available:
  description: Connections a new client of this role and database can still open, the tightest of all limits.
  returned: always
  type: int
  sample: 85
connections_available_binding:
  description: The limit that sets RV(connections_available).
  returned: always
  type: str
  sample: max_connections
connections_available_reason:
  description: The arithmetic behind RV(connections_available).
  returned: always
  type: str
  sample: max_connections 100 - 3 reserved for other roles - 12 in use
connection_limits:
  description: Every limit considered, each with C(limit), C(available) and C(reason).
  returned: always
  type: list
  elements: dict
saturated:
  description:
    - Whether the server refused the probe's login because a connection limit is reached (C(max_connections) with
      its reserved slots, the role's or the database's C(CONNECTION LIMIT), PgBouncer's C(max_client_conn)), full
      but not down. RV(connections_available) is then V(0) and RV(connections_available_binding) names the limit; RV(error)
      says what to do, and RV(reachable) is V(false), since no session could be made.
    - Who holds the slots decides what a plan may count on. M(mcpgateway.tuning.worker_plan) counts the sessions the
      gateways hold (M(mcpgateway.tuning.held_connections)) as what their new pools may use, which is how a tuning
      gives back the slots that untuned gateways' pools took.
  returned: always
  type: bool
  version_added: 1.1.0
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mcpgateway.tuning.plugins.module_utils.postgres_client import (
    DRIVER,
    POSTGRES_MUTUALLY_EXCLUSIVE,
    PSYCOPG_IMPORT_ERROR,
    PSYCOPG_PIP_HINT,
    PostgresProbeError,
    dsn_has_password,
    empty_result,
    endpoint_of,
    postgres_argument_spec,
    probe_postgres,
)
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import (
    exit_with_probe,
    probe_argument_spec,
    probe_within_deadline,
    show_when_credential_free,
)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(probe_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=POSTGRES_MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    if DRIVER is None:
        module.fail_json(msg=missing_required_lib(PSYCOPG_PIP_HINT), exception=PSYCOPG_IMPORT_ERROR)
    show_when_credential_free(module, "dsn", dsn_has_password)
    params = module.params
    result = probe_within_deadline(module, lambda progress: probe_postgres(params, progress=progress),
                                   lambda: empty_result(endpoint_of(params)), PostgresProbeError)
    exit_with_probe(module, result)


if __name__ == "__main__":
    main()
