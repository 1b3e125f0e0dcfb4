# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the modules that talk to Redis."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - A Redis URL, C(redis://[user:password@]host:port/db), C(rediss://…) for TLS, or
        C(unix:///path/to/redis.sock?db=0), as the gateway's C(REDIS_URL) takes it.
      - When set, O(host), O(port) and O(db) are not used; O(username) and O(password), if
        given, take precedence over the URL's credentials.
    type: str
  host:
    description: Host name or address of the Redis server.
    type: str
    default: localhost
  port:
    description: TCP port of the Redis server (1 to 65535).
    type: int
    default: 6379
  unix_socket:
    description: Path of the Redis unix socket, used instead of O(host) and O(port).
    type: path
  db:
    description: Database number to select (0 or more).
    type: int
    default: 0
  username:
    description: ACL user name (Redis 6 and later). Without it the C(default) user is used.
    type: str
  password:
    description: Password of the ACL user, or the C(requirepass) password.
    type: str
  tls:
    description: Connect with TLS. Implied by a C(rediss://) O(url).
    type: bool
    default: false
  tls_ca_cert:
    description: CA certificate file to verify the server with. The system's CAs are used without it.
    type: path
  tls_cert:
    description: Client certificate file, for servers with C(tls-auth-clients yes). Needs O(tls_key).
    type: path
  tls_key:
    description: Private key file of O(tls_cert).
    type: path
  tls_verify:
    description: Verify the server's certificate and host name. Turn off only for testing.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the connection and for each command (0.01 to 3600). The probe makes one
        attempt, without retries, so an unreachable server is reported within this time.
    type: float
    default: 5.0
requirements:
  - redis (redis-py) 4.2 or later on the managed node
"""
