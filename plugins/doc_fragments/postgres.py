# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the modules that talk to PostgreSQL or PgBouncer."""

    DOCUMENTATION = r"""
options:
  dsn:
    description:
      - A libpq connection string, C(postgresql://user:password@host:port/db?sslmode=require)
        or C(host=… dbname=…) pairs. The gateway's SQLAlchemy C(DATABASE_URL)
        (C(postgresql+psycopg://…)) is accepted as it is.
      - Options given explicitly (O(host), O(user), O(password), O(unix_socket_dir), TLS files)
        take precedence over the DSN's; O(port) and O(database) are only used without a DSN.
    type: str
    aliases: [url]
  host:
    description: Host name or address of the server. libpq's default (a local socket) without it.
    type: str
  port:
    description: TCP port, or the number in the socket file name (1 to 65535).
    type: int
    default: 5432
  unix_socket_dir:
    description: Folder of the server's unix socket, used instead of O(host).
    type: path
  user:
    description: Role to connect as. libpq's default (the OS user) without it.
    type: str
  password:
    description: Password of O(user).
    type: str
  database:
    description: Database to connect to.
    type: str
    default: postgres
  sslmode:
    description:
      - libpq's sslmode. With a O(dsn), the default leaves the DSN's own sslmode in force.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ssl_rootcert:
    description: CA certificate file for O(sslmode=verify-ca) and O(sslmode=verify-full).
    type: path
  ssl_cert:
    description: Client certificate file.
    type: path
  ssl_key:
    description: Private key file of O(ssl_cert).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection, and for each query once connected (1 to 3600). libpq
        waits at least 2 seconds.
    type: int
    default: 5
requirements:
  - psycopg 3.1 or later, or psycopg2, on the managed node
"""
