# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything about talking to PostgreSQL (or PgBouncer): options, driver, connection,
the connection budget arithmetic and error wording. Modules stay thin."""

from __future__ import annotations

import os
import re
import traceback

from ansible_collections.mcpgateway.tuning.plugins.module_utils.latency import time_calls
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, PORT_RANGE, first_range_problem

# psycopg 3.1+ first (client-side binding cursors speak PgBouncer's admin console), then psycopg2.
psycopg = None
psycopg2 = None
PSYCOPG_IMPORT_ERROR = None
try:
    import psycopg
    if tuple(int(part) for part in psycopg.__version__.split(".")[:2]) < (3, 1):
        raise ImportError("psycopg %s is older than 3.1" % psycopg.__version__)
    DRIVER = "psycopg"
except ImportError:
    psycopg = None
    try:
        import psycopg2
        DRIVER = "psycopg2"
    except ImportError:
        DRIVER = None
        PSYCOPG_IMPORT_ERROR = traceback.format_exc()

PSYCOPG_PIP_HINT = "psycopg (pip install 'psycopg[binary]>=3.1', or psycopg2, into the Python that Ansible uses " \
                   "on the target)"

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def postgres_argument_spec():
    return dict(
        dsn=dict(type="str", no_log=True, aliases=["url"]),
        host=dict(type="str"),
        port=dict(type="int", default=5432),
        unix_socket_dir=dict(type="path"),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        database=dict(type="str", default="postgres"),
        sslmode=dict(type="str", choices=SSL_MODES, default="prefer"),
        ssl_rootcert=dict(type="path"),
        ssl_cert=dict(type="path"),
        ssl_key=dict(type="path", no_log=False),
        connect_timeout=dict(type="int", default=5),
    )


POSTGRES_MUTUALLY_EXCLUSIVE = [("host", "unix_socket_dir")]
TLS_FILES = {"ssl_rootcert": "CA certificate that signed the server's certificate", "ssl_cert": "client certificate",
             "ssl_key": "client certificate's key"}


class PostgresProbeError(Exception):
    """A probe that cannot start because of its own options."""


# connect_timeout also becomes the probe's statement_timeout, in milliseconds, which must fit a C int.
POSTGRES_RANGES = {"connect_timeout": (1, HOUR, "seconds"), "port": PORT_RANGE}


def check_options(params):
    problem = first_range_problem(params, POSTGRES_RANGES)
    if problem:
        raise PostgresProbeError(problem)
    for option in ("ssl_rootcert", "ssl_cert", "ssl_key"):
        # "system" is libpq's name for the system's trusted roots, not a file.
        path = params.get(option)
        if path and path != "system" and not os.path.isfile(path):
            raise PostgresProbeError("%s %s is not a file on this host: give the path, on the host the probe runs "
                                     "on, of the %s" % (option, path, TLS_FILES[option]))
    if params.get("dsn"):
        dsn_parts(params["dsn"])  # a DSN libpq cannot parse is an option error, before connecting


def libpq_dsn(dsn):
    """Accept the gateway's SQLAlchemy DATABASE_URL as it is: postgresql+psycopg://… -> postgresql://…"""
    if not dsn:
        return ""
    scheme, separator, rest = dsn.partition("://")
    if separator and scheme.startswith(("postgresql+", "postgres+")):
        return "postgresql://" + rest
    if separator and not scheme.startswith(("postgresql", "postgres")):
        raise PostgresProbeError("dsn must be a PostgreSQL URL (postgresql://user@host:port/db) or 'key=value' "
                                 "pairs; got a %s:// URL" % scheme)
    return dsn


def connection_keywords(params):
    """libpq keywords from the options; a DSN supplies what is not given explicitly."""
    keywords = {
        "connect_timeout": str(max(2, params["connect_timeout"])),
        "sslmode": params["sslmode"],
        "application_name": "mcpgateway.tuning.postgres_probe",
    }
    if params.get("dsn") and params["sslmode"] == "prefer":
        # Let the DSN's own sslmode stand unless the option was changed from its default.
        del keywords["sslmode"]
    explicit = {
        "host": params.get("unix_socket_dir") or params.get("host"),
        "user": params.get("user"),
        "password": params.get("password"),
        "sslrootcert": params.get("ssl_rootcert"),
        "sslcert": params.get("ssl_cert"),
        "sslkey": params.get("ssl_key"),
    }
    if not params.get("dsn"):
        explicit.update(port=str(params["port"]), dbname=params["database"])
    keywords.update((key, value) for key, value in explicit.items() if value is not None)
    return keywords


# A DSN that cannot be parsed may hold a password anywhere in its text: none of it is shown.
UNPARSABLE_DSN = ("dsn cannot be parsed as a libpq URL or key=value string (its text is not shown: it may hold a "
                  "password). In a URL, percent-encode reserved characters of the user and password (/ as %2F, "
                  "@ as %40, : as %3A, # as %23, ? as %3F); in key=value pairs, quote a value with spaces "
                  "(password='two words')")
PORTS = re.compile(r"^[0-9]{1,5}(,[0-9]{1,5})*$")


def parse_conninfo(dsn):
    """libpq's own parse of a connection string (URL or key=value), through the driver."""
    if DRIVER == "psycopg":
        from psycopg.conninfo import conninfo_to_dict  # pylint: disable=import-outside-toplevel
        return dict((key, str(value)) for key, value in conninfo_to_dict(dsn).items())
    from psycopg2.extensions import parse_dsn  # pylint: disable=import-outside-toplevel
    return parse_dsn(dsn)


def dsn_parts(dsn):
    """The libpq keywords of a DSN. Raises PostgresProbeError without any of its text when libpq
    cannot parse it, or when the parse shows a URL whose password held an unencoded "/" (libpq then
    reads part of the password as the host or port and the rest as the database)."""
    text = libpq_dsn(dsn)
    try:
        parts = parse_conninfo(text)
    except (driver_errors() if DRIVER else ()) + (ValueError, TypeError):
        raise PostgresProbeError(UNPARSABLE_DSN) from None
    if "@" in parts.get("dbname", "") + parts.get("host", "") or not PORTS.match(parts.get("port", "5432")):
        raise PostgresProbeError(UNPARSABLE_DSN)
    return parts


def dsn_has_password(dsn):
    """Whether a DSN carries a password (URL credentials, a password= pair or parameter); an
    unparsable one may."""
    try:
        return "password" in dsn_parts(dsn)
    except PostgresProbeError:
        return True


def endpoint_of(params):
    """Where the probe connects, for messages, built from parsed parts only: never the password."""
    if params.get("dsn"):
        parts = dsn_parts(params["dsn"])
        where = params.get("unix_socket_dir") or params.get("host") or parts.get("host") or "localhost"
        return "postgresql://%s:%s/%s" % (where, parts.get("port", "5432"), parts.get("dbname", ""))
    where = params.get("unix_socket_dir") or params.get("host") or "localhost"
    return "postgresql://%s:%d/%s" % (where, params["port"], params["database"])


def connect(params):
    dsn = libpq_dsn(params.get("dsn"))
    keywords = connection_keywords(params)
    if DRIVER == "psycopg":
        return psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor, **keywords)
    connection = psycopg2.connect(dsn, **keywords)
    connection.set_session(autocommit=True)
    return connection


def _execute(connection, query):
    cursor = connection.cursor()
    try:
        cursor.execute(query)
    finally:
        cursor.close()


def _fetch(connection, query):
    cursor = connection.cursor()
    try:
        cursor.execute(query)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def connections_available(settings, in_use, role, database):
    """Connections a new client of this role and database may still open, and what binds.

    Mirrors the checks PostgreSQL makes at connection time: non-superusers cannot use the
    superuser_reserved_connections slots, nor the reserved_connections slots (16+) unless
    they are members of pg_use_reserved_connections; rolconnlimit and datconnlimit (-1 =
    none) do not apply to superusers.

    settings: max_connections, superuser_reserved_connections, reserved_connections (or None)
    in_use: total, role, database (client backends other than the probe's own)
    role: superuser, can_use_reserved, connection_limit
    database: connection_limit
    Returns (available, binding, limits) where limits lists every candidate.
    """
    superuser = role["superuser"]
    reserved = settings.get("reserved_connections") or 0
    held_back = 0 if superuser else settings["superuser_reserved_connections"]
    if not (superuser or role.get("can_use_reserved")):
        held_back += reserved
    usable = settings["max_connections"] - held_back
    limits = [{
        "limit": "max_connections",
        "available": usable - in_use["total"],
        "reason": "max_connections %d - %d reserved for other roles - %d in use"
                  % (settings["max_connections"], held_back, in_use["total"]),
    }]
    if not superuser and role["connection_limit"] >= 0:
        limits.append({
            "limit": "role connection limit",
            "available": role["connection_limit"] - in_use["role"],
            "reason": "rolconnlimit %d - %d in use by the role" % (role["connection_limit"], in_use["role"]),
        })
    if not superuser and database["connection_limit"] >= 0:
        limits.append({
            "limit": "database connection limit",
            "available": database["connection_limit"] - in_use["database"],
            "reason": "datconnlimit %d - %d in use on the database" % (database["connection_limit"],
                                                                       in_use["database"]),
        })
    binding = min(limits, key=lambda limit: limit["available"])
    return max(0, binding["available"]), binding, limits


# PostgreSQL applies its connection limits to the login role (session_user) when a session starts;
# a role the session then switches to (ALTER ROLE ... SET role, options=-c role=..., SET ROLE) is
# current_user and changes none of them. pg_stat_activity's usename is the login role too.
SETTINGS_QUERY = """
SELECT current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
       current_setting('reserved_connections', true) AS reserved_connections,
       session_user AS role_name,
       current_database() AS database_name,
       r.rolsuper AS superuser,
       r.rolconnlimit AS rolconnlimit,
       d.datconnlimit AS datconnlimit,
       EXISTS (SELECT 1 FROM pg_roles m
               WHERE m.rolname = 'pg_use_reserved_connections'
                 AND pg_has_role(session_user, m.oid, 'MEMBER')) AS can_use_reserved
FROM pg_roles r, pg_database d
WHERE r.rolname = session_user AND d.datname = current_database()
"""

# Only client backends occupy max_connections slots; background workers have their own.
# A role without pg_read_all_stats sees other roles' sessions with backend_type and state
# hidden (NULL) but role and database shown; background processes have no database, so a
# session with both is counted as a client (a parallel worker of another role would be too).
CLIENT_BACKEND_FILTER = ("(backend_type = 'client backend' OR "
                         "(backend_type IS NULL AND usename IS NOT NULL AND datname IS NOT NULL))")
# The role's own sessions by the address they come from (NULL over a unix socket), which a role sees
# without pg_read_all_stats: a plan tells the sessions of the fleet's hosts outside its run by it.
ACTIVITY_QUERY = """
SELECT coalesce(state, 'unknown') AS state,
       usename = session_user AS same_role,
       datname = current_database() AS same_database,
       CASE WHEN usename = session_user THEN host(client_addr) END AS client_address,
       count(*) AS connections
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND %s
GROUP BY 1, 2, 3, 4
"""
LOCAL_CLIENTS = "local"


def summarize_activity(rows):
    """Sessions in use: in all, of the probing role, on its database, by state, and the role's by the
    address they come from ("local" for a unix socket)."""
    in_use = {"total": 0, "role": 0, "database": 0, "by_state": {}, "role_by_address": {}}
    for row in rows:
        count = int(row["connections"])
        in_use["total"] += count
        in_use["role"] += count if row["same_role"] else 0
        in_use["database"] += count if row["same_database"] else 0
        in_use["by_state"][row["state"]] = in_use["by_state"].get(row["state"], 0) + count
        if row["same_role"]:
            address = row.get("client_address") or LOCAL_CLIENTS
            in_use["role_by_address"][address] = in_use["role_by_address"].get(address, 0) + count
    return in_use


def parse_pgbouncer_config(rows):
    return dict((row["key"], row["value"]) for row in rows)


def _probe_postgresql(connection, params, result, progress):
    # Bound every query by the same timeout as the connection, on the server's side; the probe's
    # deadline bounds the whole call on the client's.
    progress["phase"] = "setting statement_timeout"
    _execute(connection, "SET statement_timeout = %d" % (params["connect_timeout"] * 1000))
    progress["phase"] = "timing round trips (SELECT 1)"
    result["latency_ms"] = time_calls(lambda: _fetch(connection, "SELECT 1"), params["samples"])
    progress["phase"] = "reading the settings and limits"
    settings = _fetch(connection, SETTINGS_QUERY)[0]
    version_num = settings["server_version_num"]
    backend_filter = CLIENT_BACKEND_FILTER if version_num >= 100000 else "true"
    progress["phase"] = "counting the sessions in pg_stat_activity"
    in_use = summarize_activity(_fetch(connection, ACTIVITY_QUERY % backend_filter))
    reserved = settings["reserved_connections"]
    reserved = int(reserved) if reserved not in (None, "") else None
    role = {"name": settings["role_name"], "superuser": settings["superuser"],
            "can_use_reserved": settings["can_use_reserved"], "connection_limit": settings["rolconnlimit"]}
    database = {"name": settings["database_name"], "connection_limit": settings["datconnlimit"]}
    available, binding, limits = connections_available(
        {"max_connections": settings["max_connections"],
         "superuser_reserved_connections": settings["superuser_reserved_connections"],
         "reserved_connections": reserved},
        in_use, role, database)
    result.update(
        server_version=settings["server_version"],
        server_version_num=version_num,
        max_connections=settings["max_connections"],
        superuser_reserved_connections=settings["superuser_reserved_connections"],
        reserved_connections=reserved,
        connections_in_use=in_use,
        role=role,
        database=database,
        rolconnlimit=settings["rolconnlimit"],
        datconnlimit=settings["datconnlimit"],
        connections_available=available,
        connections_available_binding=binding["limit"],
        connections_available_reason=binding["reason"],
        connection_limits=limits,
    )


def _probe_pgbouncer(connection, params, result, version_text, progress):
    progress["phase"] = "timing round trips (SHOW VERSION)"
    result["latency_ms"] = time_calls(lambda: _fetch(connection, "SHOW VERSION"), params["samples"])
    progress["phase"] = "reading SHOW CONFIG"
    config = parse_pgbouncer_config(_fetch(connection, "SHOW CONFIG"))
    progress["phase"] = "counting SHOW CLIENTS"
    clients = len(_fetch(connection, "SHOW CLIENTS")) - 1  # not the probe itself
    max_client_conn = int(config.get("max_client_conn", 0))
    result.update(
        pgbouncer=True,
        pgbouncer_version=version_text,
        pgbouncer_pool_mode=config.get("pool_mode"),
        pgbouncer_default_pool_size=int(config["default_pool_size"]) if "default_pool_size" in config else None,
        max_connections=max_client_conn,
        connections_in_use={"total": clients, "role": None, "database": None, "by_state": {}},
        connections_available=max(0, max_client_conn - clients),
        connections_available_binding="pgbouncer max_client_conn",
        connections_available_reason="max_client_conn %d - %d clients" % (max_client_conn, clients),
    )


def detect_pgbouncer(connection):
    """PgBouncer's admin console answers SHOW VERSION with its own version; PostgreSQL has no
    such setting and raises an error. Returns the PgBouncer version text or None."""
    try:
        rows = _fetch(connection, "SHOW VERSION")
    except Exception:  # pylint: disable=broad-except
        # Any driver's "unrecognized configuration parameter" error means PostgreSQL.
        return None
    text = " ".join(str(value) for row in rows for value in row.values())
    return text if "pgbouncer" in text.lower() else None


QUOTED_NAME = re.compile(r'"([^"]*)"')
NOT_POSTGRES_SIGNS = ("invalid response to ssl negotiation", "expected authentication request from server",
                      "received invalid response", "unexpected message from server", "lost synchronization")
TLS_FILE_SIGNS = ("root certificate file", "certificate file", "private key file", "could not load private key",
                  "could not read certificate", "certificate revocation list")


def _quoted(text, after):
    """The first double-quoted name following `after` in a server message, e.g. the role of 'too many
    connections for role "gw"'."""
    match = QUOTED_NAME.search(text, text.lower().find(after))
    return match.group(1) if match else "?"


def explain_error(error, endpoint, timeout):  # pylint: disable=too-many-return-statements
    """A sentence naming what went wrong and what to check, from a driver exception. The checks go from
    the most specific sign to the most general: "SSL encryption" in a pg_hba.conf refusal is not a TLS
    failure, and "No such file or directory" about a CA file is not a missing socket."""
    text = " ".join(str(error).split())
    lowered = text.lower()
    if "password authentication failed" in lowered or "authentication failed" in lowered \
            or "no password supplied" in lowered:
        return "authentication to %s failed (%s): check user and password" % (endpoint, text)
    if any(sign in lowered for sign in NOT_POSTGRES_SIGNS):
        return ("%s does not answer like PostgreSQL (%s): check the port; another service (HTTP, Redis, ...) "
                "may listen there" % (endpoint, text))
    if "timeout expired" in lowered or "timed out" in lowered or "timeout" in lowered:
        return ("no answer from %s within %d s: the port accepts but does not answer like PostgreSQL, or the "
                "server is overloaded or behind a firewall that drops packets (%s)" % (endpoint, timeout, text))
    if "too many connections for role" in lowered:
        role = _quoted(text, "for role")
        return ("role %s has reached its CONNECTION LIMIT at %s (%s): raise it (ALTER ROLE \"%s\" CONNECTION LIMIT "
                "n; -1 is none, 0 lets no session in) or close the role's idle sessions" % (role, endpoint, text, role))
    if "too many connections for database" in lowered:
        database = _quoted(text, "for database")
        return ("database %s has reached its CONNECTION LIMIT at %s (%s): raise it (ALTER DATABASE \"%s\" "
                "CONNECTION LIMIT n; -1 is none, 0 lets no session in) or close its idle sessions"
                % (database, endpoint, text, database))
    if "too many clients" in lowered or "remaining connection slots" in lowered \
            or "too many connections" in lowered:
        return ("%s has no connection slot left (%s): raise max_connections, close idle clients, or put "
                "PgBouncer in front" % (endpoint, text))
    if "not currently accepting connections" in lowered:
        database = _quoted(text, "database")
        return ("database %s at %s does not accept connections (%s): ALTER DATABASE \"%s\" ALLOW_CONNECTIONS "
                "true, or probe another database" % (database, endpoint, text, database))
    if "refused" in lowered:
        return ("connection refused by %s: nothing listens there; check host and port and that PostgreSQL runs "
                "with listen_addresses covering it" % endpoint)
    if any(sign in lowered for sign in TLS_FILE_SIGNS):
        return ("a TLS file of this client cannot be used (%s): check ssl_rootcert, ssl_cert and ssl_key on the "
                "host the probe runs on" % text)
    if "pg_hba.conf" in lowered and "no encryption" in lowered:
        return ("%s accepts this client only over TLS (%s): its pg_hba.conf has a hostssl entry, not a host one; "
                "set sslmode=require, or verify-full with ssl_rootcert" % (endpoint, text))
    if "pg_hba.conf" in lowered and ("ssl encryption" in lowered or "gss encryption" in lowered):
        return ("%s accepts this client only without encryption (%s): its pg_hba.conf has a hostnossl entry; "
                "add a hostssl entry for it (better) or set sslmode=disable" % (endpoint, text))
    if "pg_hba.conf" in lowered:
        return "%s refuses this client (%s): add a pg_hba.conf entry for it" % (endpoint, text)
    if "no such file or directory" in lowered:
        return "no PostgreSQL socket at %s: check unix_socket_dir and port" % endpoint
    if "ssl" in lowered or "certificate" in lowered:
        return ("TLS with %s failed (%s): check sslmode, ssl_rootcert and ssl_cert/ssl_key, and that the server "
                "has ssl = on" % (endpoint, text))
    if "does not exist" in lowered:
        return "%s: %s; check user and database" % (endpoint, text)
    if "could not translate host name" in lowered:
        return "cannot resolve the host of %s: check host" % endpoint
    return "cannot talk to PostgreSQL at %s: %s" % (endpoint, text)


def empty_result(endpoint):
    return {
        "reachable": False, "error": None, "endpoint": endpoint, "driver": DRIVER, "pgbouncer": False,
        "pgbouncer_version": None, "latency_ms": None, "server_version": None, "server_version_num": None,
        "max_connections": None, "superuser_reserved_connections": None, "reserved_connections": None,
        "connections_in_use": None, "role": None, "database": None, "rolconnlimit": None, "datconnlimit": None,
        "connections_available": None, "connections_available_binding": None, "connections_available_reason": None,
        "connection_limits": [], "stalled_phase": None, "saturated": False,
    }


# What PostgreSQL (or PgBouncer) answers a login it has no slot for, and the limit it names. The role's
# and the database's limits come first, since "too many connections" ends both their messages.
SLOT_REFUSALS = (
    ("too many connections for role", "role connection limit"),
    ("too many connections for database", "database connection limit"),
    ("remaining connection slots are reserved", "max_connections"),
    ("too many clients", "max_connections"),
    ("no more connections allowed", "pgbouncer max_client_conn"),
)


def refused_limit(error):
    """The limit a refused login names when the server had no slot for it, else None."""
    lowered = " ".join(str(error).split()).lower()
    for sign, limit in SLOT_REFUSALS:
        if sign in lowered:
            return limit
    return None


def driver_errors():
    if DRIVER == "psycopg":
        return (psycopg.Error,)
    return (psycopg2.Error,)


def probe_postgres(params, connector=None, progress=None):
    """Connect, time SELECT 1, read the connection budget. Unreachable is data, not raised.
    progress["phase"] says what the probe is doing, for a deadline that passes."""
    progress = {} if progress is None else progress
    check_options(params)
    endpoint = endpoint_of(params)
    result = empty_result(endpoint)
    connection = None
    try:
        progress["phase"] = "connecting and logging in"
        connection = (connector or connect)(params)
        progress["phase"] = "asking whether it is PgBouncer (the first query)"
        pgbouncer_version = detect_pgbouncer(connection)
        if pgbouncer_version:
            _probe_pgbouncer(connection, params, result, pgbouncer_version, progress)
        else:
            _probe_postgresql(connection, params, result, progress)
        result["reachable"] = True
    except driver_errors() + (OSError,) as error:
        result["error"] = explain_error(error, endpoint, params["connect_timeout"])
        limit = refused_limit(error) if connection is None else None
        if limit:
            # Full, not down: no session is free now. The plan counts what the gateways hold.
            result.update(saturated=True, connections_available=0, connections_available_binding=limit,
                          connections_available_reason="the server refused a new session: %s reached" % limit)
    finally:
        if connection is not None:
            connection.close()
    return result
