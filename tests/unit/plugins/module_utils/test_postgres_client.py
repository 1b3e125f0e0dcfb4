# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection-budget arithmetic and option handling of the PostgreSQL probe."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import postgres_client
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import probe_argument_spec

SETTINGS_15 = {"max_connections": 100, "superuser_reserved_connections": 3, "reserved_connections": None}
SETTINGS_16 = {"max_connections": 100, "superuser_reserved_connections": 3, "reserved_connections": 5}
APP_ROLE = {"superuser": False, "can_use_reserved": False, "connection_limit": -1}
NO_DB_LIMIT = {"connection_limit": -1}


def in_use(total, role=0, database=0):
    return {"total": total, "role": role, "database": database}


def test_plain_role_on_postgresql_15_loses_the_superuser_slots():
    available, binding, limits = postgres_client.connections_available(SETTINGS_15, in_use(40), APP_ROLE,
                                                                       NO_DB_LIMIT)
    assert available == 57
    assert binding["limit"] == "max_connections"
    assert binding["reason"] == "max_connections 100 - 3 reserved for other roles - 40 in use"
    assert len(limits) == 1


def test_postgresql_16_reserved_connections_count_unless_the_role_may_use_them():
    plain, _binding, _limits = postgres_client.connections_available(SETTINGS_16, in_use(40), APP_ROLE, NO_DB_LIMIT)
    privileged, _binding, _limits = postgres_client.connections_available(
        SETTINGS_16, in_use(40), dict(APP_ROLE, can_use_reserved=True), NO_DB_LIMIT)
    assert (plain, privileged) == (52, 57)


def test_superuser_ignores_reserved_slots_and_role_and_database_limits():
    available, binding, limits = postgres_client.connections_available(
        SETTINGS_16, in_use(40, role=30, database=30), {"superuser": True, "connection_limit": 5},
        {"connection_limit": 10})
    assert available == 60
    assert binding["limit"] == "max_connections"
    assert [limit["limit"] for limit in limits] == ["max_connections"]


def test_tightest_of_role_and_database_limits_binds():
    role = dict(APP_ROLE, connection_limit=20)
    database = {"connection_limit": 15}
    available, binding, limits = postgres_client.connections_available(
        SETTINGS_15, in_use(30, role=12, database=10), role, database)
    assert available == 5
    assert binding["limit"] == "database connection limit"
    assert binding["reason"] == "datconnlimit 15 - 10 in use on the database"
    assert [limit["available"] for limit in limits] == [67, 8, 5]


def test_a_full_server_gives_zero_not_a_negative_number():
    available, binding, _limits = postgres_client.connections_available(SETTINGS_15, in_use(99), APP_ROLE,
                                                                        NO_DB_LIMIT)
    assert available == 0
    assert binding["available"] == -2


def test_summarize_activity_by_state_role_database_and_the_roles_addresses():
    rows = [
        {"state": "idle", "same_role": True, "same_database": True, "client_address": "10.0.0.12", "connections": 3},
        {"state": "active", "same_role": True, "same_database": True, "client_address": "10.0.0.12", "connections": 1},
        {"state": "idle", "same_role": True, "same_database": True, "client_address": None, "connections": 2},
        {"state": "active", "same_role": False, "same_database": True, "client_address": None, "connections": 2},
        {"state": "unknown", "same_role": False, "same_database": False, "client_address": None, "connections": 4},
        {"state": "idle", "same_role": False, "same_database": None, "client_address": None, "connections": 1},
    ]
    assert postgres_client.summarize_activity(rows) == {
        "total": 13, "role": 6, "database": 8, "by_state": {"idle": 6, "active": 3, "unknown": 4},
        "role_by_address": {"10.0.0.12": 4, "local": 2}}


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql+psycopg://u:p@db:5432/mcp", "postgresql://u:p@db:5432/mcp"),
    ("postgresql+psycopg2://u:p@db/mcp?sslmode=require", "postgresql://u:p@db/mcp?sslmode=require"),
    ("postgres://u@db/mcp", "postgres://u@db/mcp"),
    ("host=db dbname=mcp user=u", "host=db dbname=mcp user=u"),
    (None, ""),
])
def test_libpq_dsn_accepts_the_gateway_database_url(dsn, expected):
    assert postgres_client.libpq_dsn(dsn) == expected


def test_libpq_dsn_refuses_other_databases():
    with pytest.raises(postgres_client.PostgresProbeError, match="dsn must be a PostgreSQL URL"):
        postgres_client.libpq_dsn("sqlite:///./mcp.db")


def params(**overrides):
    spec = dict(postgres_client.postgres_argument_spec(), **probe_argument_spec())
    values = dict((name, option.get("default")) for name, option in spec.items())
    values.update(overrides)
    return values


def test_connection_keywords_from_options():
    keywords = postgres_client.connection_keywords(params(host="db", port=6432, user="gw", password="pw",
                                                          database="mcp", sslmode="verify-full",
                                                          ssl_rootcert="/ca.pem", connect_timeout=1))
    assert keywords == {
        "connect_timeout": "2", "sslmode": "verify-full", "application_name": "mcpgateway.tuning.postgres_probe",
        "host": "db", "user": "gw", "password": "pw", "sslrootcert": "/ca.pem", "port": "6432", "dbname": "mcp",
    }


def test_connection_keywords_leave_the_dsn_its_port_database_and_sslmode():
    keywords = postgres_client.connection_keywords(params(dsn="postgresql://gw@db:6432/mcp?sslmode=require",
                                                          password="pw"))
    assert keywords == {"connect_timeout": "5", "application_name": "mcpgateway.tuning.postgres_probe",
                        "password": "pw"}


def test_unix_socket_dir_is_the_libpq_host():
    keywords = postgres_client.connection_keywords(params(unix_socket_dir="/run/postgresql"))
    assert keywords["host"] == "/run/postgresql"


@pytest.mark.parametrize("given, endpoint", [
    ({"dsn": "postgresql+psycopg://gw:secret@db:5432/mcp?sslmode=require"}, "postgresql://db:5432/mcp"),
    ({"dsn": "host=db dbname=mcp password=secret user=gw"}, "postgresql://db:5432/mcp"),
    # What libpq reads, not what text cutting would: a quoted password with spaces, spaces around "=".
    ({"dsn": "host=db port=6432 user=gw password='my secret pass' dbname=mcp"}, "postgresql://db:6432/mcp"),
    ({"dsn": "host = db   password =  'a b'  dbname= mcp"}, "postgresql://db:5432/mcp"),
    ({"dsn": "postgresql://gw:p%2Fss@db:5432/mcp?sslmode=disable"}, "postgresql://db:5432/mcp"),
    ({"dsn": "postgresql://gw:pw@db/mcp", "host": "10.0.0.5"}, "postgresql://10.0.0.5:5432/mcp"),
    ({"host": "db", "port": 6432, "database": "mcp"}, "postgresql://db:6432/mcp"),
    ({"unix_socket_dir": "/run/postgresql"}, "postgresql:///run/postgresql:5432/postgres"),
])
def test_endpoint_never_shows_the_password(given, endpoint):
    assert postgres_client.endpoint_of(params(**given)) == endpoint


@pytest.mark.parametrize("dsn", [
    # An unencoded "/" in a URL's password: libpq reads "pa" as the port and "ss@db:5432/mcp" as the database.
    "postgresql://gw:pa/ss@db:5432/mcp",
    "postgresql://gw:s3cr3t@db:5432/mc@p",
    # An unterminated quote; a value without "=".
    "host=db password='my secret pass dbname=mcp",
    "host=db password my secret",
])
def test_a_dsn_libpq_cannot_parse_is_refused_without_its_text(dsn):
    # One fixed sentence, whatever the DSN: nothing of its text can reach a message.
    with pytest.raises(postgres_client.PostgresProbeError) as raised:
        postgres_client.endpoint_of(params(dsn=dsn))
    assert str(raised.value) == postgres_client.UNPARSABLE_DSN
    with pytest.raises(postgres_client.PostgresProbeError):
        postgres_client.check_options(params(dsn=dsn))
    assert postgres_client.dsn_has_password(dsn) is True


@pytest.mark.parametrize("message, start", [
    ('connection failed: FATAL:  password authentication failed for user "gw"', "authentication to"),
    ("connection timeout expired", "no answer from"),
    ('FATAL:  too many connections for role "gw"', "role gw has reached its CONNECTION LIMIT at postgresql://"),
    ('FATAL:  too many connections for database "mcp"', "database mcp has reached its CONNECTION LIMIT at "),
    ('FATAL:  database "mcp" is not currently accepting connections', "database mcp at postgresql://db:5432/mcp "
                                                                      "does not accept connections"),
    ("received invalid response to SSL negotiation: H", "postgresql://db:5432/mcp does not answer like PostgreSQL"),
    ('could not read root certificate file "/etc/ca.pem": No such file or directory',
     "a TLS file of this client cannot be used"),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "gw", database "mcp", no encryption',
     "postgresql://db:5432/mcp accepts this client only over TLS"),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "gw", database "mcp", SSL encryption',
     "postgresql://db:5432/mcp accepts this client only without encryption"),
    ("connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory",
     "no PostgreSQL socket at"),
    ("FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
     "postgresql://db:5432/mcp has no connection slot left"),
    ("connection failed: Connection refused\n\tIs the server running", "connection refused by"),
    ("certificate verify failed", "TLS with"),
    ('FATAL:  database "nope" does not exist', "postgresql://db:5432/mcp: FATAL"),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.9"', "postgresql://db:5432/mcp refuses this client"),
])
def test_error_wording(message, start):
    assert postgres_client.explain_error(Exception(message), "postgresql://db:5432/mcp", 5).startswith(start)


def test_pgbouncer_config_rows():
    rows = [{"key": "max_client_conn", "value": "200", "default": "100", "changeable": "yes"},
            {"key": "pool_mode", "value": "transaction", "default": "session", "changeable": "yes"}]
    assert postgres_client.parse_pgbouncer_config(rows) == {"max_client_conn": "200", "pool_mode": "transaction"}


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql://gw@db:5432/mcp", False), ("postgresql+psycopg://gw:pw@db/mcp", True),
    ("postgresql://gw@db/mcp?sslmode=require&password=pw", True), ("host=db user=gw dbname=mcp", False),
    ("host=db password=pw", True), ("host=db password = pw", True), ("postgresql:///mcp?host=/run/pg", False),
    ("host=db password='two words'", True), ("postgresql://gw:pa/ss@db/mcp", True),
])
def test_dsn_has_password(dsn, expected):
    assert postgres_client.dsn_has_password(dsn) is expected


@pytest.mark.parametrize("given, message", [
    ({"connect_timeout": 0}, "connect_timeout must be 1 to 3600 seconds, got 0"),
    # In milliseconds it would overflow statement_timeout, a C int.
    ({"connect_timeout": 2 ** 31}, "connect_timeout must be 1 to 3600 seconds, got 2147483648"),
    ({"port": 65536}, "port must be 1 to 65535, got 65536"),
])
def test_option_errors(given, message):
    with pytest.raises(postgres_client.PostgresProbeError, match=message):
        postgres_client.check_options(params(**given))


class RefusingConnector:
    """A stand-in for the driver's connect that refuses the login with a server's message."""

    def __init__(self, message):
        self.message = message

    def __call__(self, dummy_params):
        raise postgres_client.driver_errors()[0](self.message)


@pytest.mark.parametrize("message, limit", [
    ("connection failed: FATAL:  sorry, too many clients already", "max_connections"),
    ("FATAL:  remaining connection slots are reserved for non-replication superuser connections", "max_connections"),
    ('FATAL:  too many connections for role "gw"', "role connection limit"),
    ('FATAL:  too many connections for database "mcp"', "database connection limit"),
    ("ERROR:  no more connections allowed (max_client_conn)", "pgbouncer max_client_conn"),
])
def test_a_login_refused_for_want_of_a_slot_is_a_full_server_not_a_down_one(message, limit):
    result = postgres_client.probe_postgres(params(), connector=RefusingConnector(message))

    assert (result["saturated"], result["connections_available"], result["connections_available_binding"]) == (
        True, 0, limit)
    # No session could be made: the settings stay unknown, and the error still says what to do.
    assert result["reachable"] is False and result["max_connections"] is None
    assert result["error"] == postgres_client.explain_error(Exception(message), result["endpoint"], 5)


def test_other_refusals_are_not_a_full_server():
    result = postgres_client.probe_postgres(params(), connector=RefusingConnector(
        'FATAL:  password authentication failed for user "gw"'))

    assert result["saturated"] is False and result["connections_available"] is None
