# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgres_probe against a real PostgreSQL started with a small max_connections, a role
with CONNECTION LIMIT, a database with CONNECTION LIMIT, password authentication and TLS.

Every connections_available figure is checked against the server itself: that many new
connections succeed, and the next one is refused for the reason the probe named."""

from __future__ import annotations

import contextlib
import socket
import time

import psycopg
import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import postgres_client
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import probe_argument_spec
from conftest import (
    PGBOUNCER_MAX_CLIENT_CONN,
    PGBOUNCER_POOL_SIZE,
    PG_DATABASE,
    PG_DATABASE_LIMIT,
    PG_MAX_CONNECTIONS,
    PG_ROLE,
    PG_ROLE_LIMIT,
    PG_ROLE_PASSWORD,
    PG_SUPERUSER_RESERVED,
)

OTHER_ROLE = "other"
OTHER_PASSWORD = "other-pass-x1"


def connect(server, user, password, database):
    return psycopg.connect(host=server.host, port=server.port, user=user, password=password, dbname=database,
                           connect_timeout=5, autocommit=True)


@contextlib.contextmanager
def held_connections(server, *groups):
    """Open (user, password, database, count) groups of connections; wait until the server
    has forgotten them after the block, so the next test starts from the same baseline."""
    baseline = server.client_sessions()
    connections = []
    try:
        for user, password, database, count in groups:
            connections += [connect(server, user, password, database) for dummy in range(count)]
        yield connections
    finally:
        for connection in connections:
            connection.close()
        server.wait_for_sessions(baseline)


def open_until_refused(server, user, password, database, limit):
    """Open connections until the server refuses one; return how many it took and why it refused."""
    opened = []
    try:
        for dummy in range(limit + 1):
            try:
                opened.append(connect(server, user, password, database))
            except psycopg.OperationalError as error:
                return len(opened), str(error)
        return len(opened), None
    finally:
        for connection in opened:
            connection.close()


def assert_the_server_agrees(server, user, password, database, result, refusal_reason):
    """The server accepts exactly the connections_available the probe reported, then refuses
    the next one for the reason the probe named."""
    opened, refusal = open_until_refused(server, user, password, database, 20)
    assert opened == result["connections_available"]
    assert refusal_reason in refusal


def probe_args(server, user=PG_ROLE, password=PG_ROLE_PASSWORD, database=PG_DATABASE, **extra):
    args = {"host": server.host, "port": server.port, "user": user, "password": password, "database": database,
            "sslmode": "disable"}
    args.update(extra)
    return args


def test_settings_and_limits_match_the_server(run_module, postgres_server):
    run = run_module("postgres_probe", probe_args(postgres_server, samples=6))
    result = run.result

    assert run.rc == 0, run.output
    assert result["changed"] is False
    assert result["reachable"] is True, result["error"]
    assert result["error"] is None
    assert result["driver"] == "psycopg"
    assert result["pgbouncer"] is False
    assert result["endpoint"] == "postgresql://127.0.0.1:%d/%s" % (postgres_server.port, PG_DATABASE)
    version = postgres_server.sql("SHOW server_version")[0][0]
    assert result["server_version"] == version
    assert result["server_version_num"] == int(postgres_server.sql("SHOW server_version_num")[0][0])
    assert result["max_connections"] == PG_MAX_CONNECTIONS
    assert result["superuser_reserved_connections"] == PG_SUPERUSER_RESERVED
    expected_reserved = 0 if result["server_version_num"] >= 160000 else None
    assert result["reserved_connections"] == expected_reserved
    assert result["rolconnlimit"] == PG_ROLE_LIMIT
    assert result["datconnlimit"] == PG_DATABASE_LIMIT
    assert result["role"] == {"name": PG_ROLE, "superuser": False, "can_use_reserved": False,
                              "connection_limit": PG_ROLE_LIMIT}
    assert result["database"] == {"name": PG_DATABASE, "connection_limit": PG_DATABASE_LIMIT}
    latency = result["latency_ms"]
    assert latency["samples"] == 6
    assert 0 < latency["min"] <= latency["p50"] <= latency["p99"] <= latency["max"]


def test_role_limit_binds_and_the_server_agrees(run_module, postgres_server):
    with held_connections(postgres_server, (PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, 2),
                          (OTHER_ROLE, OTHER_PASSWORD, "postgres", 3)) as held:
        held[0].execute("BEGIN")
        held[0].execute("SELECT 1")
        result = run_module("postgres_probe", probe_args(postgres_server)).result

        assert result["connections_in_use"] == {
            "total": 5, "role": 2, "database": 2,
            # A non-superuser does not see the state of other roles' sessions.
            "by_state": {"idle": 1, "idle in transaction": 1, "unknown": 3},
            # Its own sessions' addresses it does see; the other role's are not counted.
            "role_by_address": {"127.0.0.1": 2},
        }
        assert result["connections_available"] == PG_ROLE_LIMIT - 2
        assert result["connections_available_binding"] == "role connection limit"
        assert result["connections_available_reason"] == "rolconnlimit %d - 2 in use by the role" % PG_ROLE_LIMIT
        assert [limit["available"] for limit in result["connection_limits"]] == [
            PG_MAX_CONNECTIONS - PG_SUPERUSER_RESERVED - 5, PG_ROLE_LIMIT - 2, PG_DATABASE_LIMIT - 2]

        assert_the_server_agrees(postgres_server, PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, result, "too many connections for role")


def test_database_limit_binds_and_the_server_agrees(run_module, postgres_server):
    with held_connections(postgres_server, (OTHER_ROLE, OTHER_PASSWORD, PG_DATABASE, 8),
                          (PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, 1)):
        result = run_module("postgres_probe", probe_args(postgres_server)).result

        assert result["connections_in_use"]["database"] == 9
        assert result["connections_available"] == PG_DATABASE_LIMIT - 9
        assert result["connections_available_binding"] == "database connection limit"

        assert_the_server_agrees(postgres_server, PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, result, "too many connections for database")


SWITCHED_ROLE = "switched"
SWITCHING_PASSWORD = "switch-pass-Q7w"
SWITCHING_LIMIT = 3


@pytest.fixture(scope="module")
def switching_logins(postgres_server):
    """Two login roles with CONNECTION LIMIT 3 whose sessions act as a role without a limit: one
    switches on the server (ALTER ROLE ... SET role), the other asks for it in its DSN
    (options=-c role=...). PostgreSQL counts both against the login role, the session_user."""
    postgres_server.sql("CREATE ROLE %s NOLOGIN" % SWITCHED_ROLE)
    for login in ("switch_on_server", "switch_in_dsn"):
        postgres_server.sql("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT %d IN ROLE %s"
                            % (login, SWITCHING_PASSWORD, SWITCHING_LIMIT, SWITCHED_ROLE))
    postgres_server.sql("ALTER ROLE switch_on_server SET role = %s" % SWITCHED_ROLE)


@pytest.mark.parametrize("login, dsn_options", [
    ("switch_on_server", ""),
    ("switch_in_dsn", "&options=-c%%20role%%3D%s" % SWITCHED_ROLE),
])
def test_the_login_roles_limit_binds_when_sessions_switch_role(run_module, postgres_server, switching_logins,
                                                               login, dsn_options):
    dsn = "postgresql://%s:%s@%s:%d/%s?sslmode=disable%s" % (
        login, SWITCHING_PASSWORD, postgres_server.host, postgres_server.port, PG_DATABASE, dsn_options)
    with held_connections(postgres_server, (login, SWITCHING_PASSWORD, PG_DATABASE, 1)) as held:
        acting, logged_in = held[0].execute("SELECT current_user, session_user").fetchone()
        assert logged_in == login and acting == (SWITCHED_ROLE if login == "switch_on_server" else login)
        result = run_module("postgres_probe", {"dsn": dsn}).result

        assert result["reachable"] is True, result["error"]
        assert result["role"]["name"] == login and result["rolconnlimit"] == SWITCHING_LIMIT
        assert result["connections_in_use"]["role"] == 1
        assert result["connections_available"] == SWITCHING_LIMIT - 1
        assert result["connections_available_binding"] == "role connection limit"

        assert_the_server_agrees(postgres_server, login, SWITCHING_PASSWORD, PG_DATABASE, result, "too many connections for role")


def test_max_connections_binds_and_reserved_slots_are_kept_for_superusers(run_module, postgres_server):
    with held_connections(postgres_server, (OTHER_ROLE, OTHER_PASSWORD, "postgres", 15)):
        result = run_module("postgres_probe", probe_args(postgres_server, user=OTHER_ROLE, password=OTHER_PASSWORD,
                                                         database="postgres")).result

        usable = PG_MAX_CONNECTIONS - PG_SUPERUSER_RESERVED
        assert result["connections_available"] == usable - 15
        assert result["connections_available_binding"] == "max_connections"
        assert result["connections_available_reason"] == (
            "max_connections %d - %d reserved for other roles - 15 in use" % (PG_MAX_CONNECTIONS,
                                                                              PG_SUPERUSER_RESERVED))

        assert_the_server_agrees(postgres_server, OTHER_ROLE, OTHER_PASSWORD, "postgres", result, "reserved")


def test_superuser_over_the_unix_socket_may_use_the_reserved_slots(run_module, postgres_server):
    with held_connections(postgres_server, (OTHER_ROLE, OTHER_PASSWORD, "postgres", 2)):
        run = run_module("postgres_probe", {"unix_socket_dir": postgres_server.socket_dir,
                                            "port": postgres_server.port, "user": "postgres"})
        result = run.result

        assert result["reachable"] is True, result["error"]
        assert result["role"]["superuser"] is True
        assert result["connections_available"] == PG_MAX_CONNECTIONS - 2
        assert [limit["limit"] for limit in result["connection_limits"]] == ["max_connections"]


def test_pgbouncer_admin_console_is_detected_and_its_client_limit_reported(run_module, pgbouncer_server):
    clients = [psycopg.connect(host=pgbouncer_server.host, port=pgbouncer_server.port, user=PG_ROLE,
                               password=PG_ROLE_PASSWORD, dbname=PG_DATABASE, connect_timeout=5)
               for dummy in range(3)]
    try:
        run = run_module("postgres_probe", {"host": pgbouncer_server.host, "port": pgbouncer_server.port,
                                            "user": PG_ROLE, "password": PG_ROLE_PASSWORD, "database": "pgbouncer",
                                            "sslmode": "disable", "samples": 4})
    finally:
        for client in clients:
            client.close()
    result = run.result

    assert result["reachable"] is True, result["error"]
    assert result["pgbouncer"] is True
    assert result["pgbouncer_version"].startswith("PgBouncer 1.")
    assert result["pgbouncer_pool_mode"] == "transaction"
    assert result["pgbouncer_default_pool_size"] == PGBOUNCER_POOL_SIZE
    assert result["max_connections"] == PGBOUNCER_MAX_CLIENT_CONN
    assert result["connections_in_use"]["total"] == 3
    assert result["connections_available"] == PGBOUNCER_MAX_CLIENT_CONN - 3
    assert result["connections_available_binding"] == "pgbouncer max_client_conn"
    assert result["latency_ms"]["samples"] == 4


def test_a_pooled_database_behind_pgbouncer_reports_postgresql_itself(run_module, pgbouncer_server):
    run = run_module("postgres_probe", {"host": pgbouncer_server.host, "port": pgbouncer_server.port,
                                        "user": PG_ROLE, "password": PG_ROLE_PASSWORD, "database": PG_DATABASE,
                                        "sslmode": "disable"})

    assert run.result["reachable"] is True, run.result["error"]
    assert run.result["pgbouncer"] is False
    assert run.result["max_connections"] == PG_MAX_CONNECTIONS


def test_the_gateway_database_url_is_accepted_as_it_is(run_module, postgres_server):
    url = postgres_server.url(PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, driver="psycopg") + "?sslmode=disable"
    run = run_module("postgres_probe", {"dsn": url})

    assert run.result["reachable"] is True, run.result["error"]
    assert run.result["endpoint"] == "postgresql://127.0.0.1:%d/%s" % (postgres_server.port, PG_DATABASE)
    assert run.result["rolconnlimit"] == PG_ROLE_LIMIT


def test_wrong_password_is_reported_as_data(run_module, postgres_server):
    run = run_module("postgres_probe", probe_args(postgres_server, password="not-the-password"))

    assert run.rc == 0
    assert run.result["reachable"] is False
    assert run.result["error"].startswith(
        "authentication to postgresql://127.0.0.1:%d/%s failed" % (postgres_server.port, PG_DATABASE))
    assert "check user and password" in run.result["error"]
    assert run.result["max_connections"] is None


def test_closed_port_is_refused(run_module):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed = placeholder.getsockname()[1]
    run = run_module("postgres_probe", {"host": "127.0.0.1", "port": closed, "user": "x", "connect_timeout": 3})

    assert run.result["reachable"] is False
    assert run.result["error"].startswith("connection refused by postgresql://127.0.0.1:%d/postgres" % closed)


def test_port_that_never_answers_times_out_within_the_timeout(run_module, silent_port):
    run = run_module("postgres_probe", {"host": "127.0.0.1", "port": silent_port, "user": "x",
                                        "connect_timeout": 2, "fail_unreachable": True})

    assert run.failed
    assert "no answer from postgresql://127.0.0.1:%d/postgres within 2 s" % silent_port in run.result["msg"]
    assert 2 <= run.elapsed < 2 + 8


def test_probe_itself_never_waits_past_the_timeout(silent_port):
    params = dict(postgres_defaults(), host="127.0.0.1", port=silent_port, user="x", connect_timeout=2)
    started = time.monotonic()
    result = postgres_client.probe_postgres(params)
    elapsed = time.monotonic() - started

    assert result["reachable"] is False
    assert 2 <= elapsed < 2 + 0.5


def test_tls_verify_full_with_the_right_and_a_wrong_ca(run_module, postgres_server, certificates):
    verified = run_module("postgres_probe", probe_args(postgres_server, sslmode="verify-full",
                                                       ssl_rootcert=certificates.ca_cert))
    with_client_cert = run_module("postgres_probe", probe_args(postgres_server, sslmode="verify-full",
                                                               ssl_rootcert=certificates.ca_cert,
                                                               ssl_cert=certificates.client_cert,
                                                               ssl_key=certificates.client_key))
    wrong_ca = run_module("postgres_probe", probe_args(postgres_server, sslmode="verify-full",
                                                       ssl_rootcert=certificates.other_ca_cert))

    assert verified.result["reachable"] is True, verified.result["error"]
    assert with_client_cert.result["reachable"] is True, with_client_cert.result["error"]
    ssl_sessions = postgres_server.sql("SELECT count(*) FROM pg_stat_ssl WHERE ssl")
    assert ssl_sessions  # the server really speaks TLS
    assert wrong_ca.result["reachable"] is False
    assert wrong_ca.result["error"].startswith("TLS with postgresql://127.0.0.1:%d/%s failed"
                                               % (postgres_server.port, PG_DATABASE))
    assert "certificate verify failed" in wrong_ca.result["error"]


def test_check_mode_reads_the_same(run_module, postgres_server):
    run = run_module("postgres_probe", probe_args(postgres_server), check=True)

    assert run.rc == 0
    assert run.result["changed"] is False
    assert run.result["max_connections"] == PG_MAX_CONNECTIONS


def test_passwords_never_reach_the_output(run_module, postgres_server):
    by_option = run_module("postgres_probe", probe_args(postgres_server), verbosity=4)
    by_url = run_module("postgres_probe", {"dsn": postgres_server.url(PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE)
                                           + "?sslmode=disable"}, verbosity=4)

    assert by_option.result["reachable"] and by_url.result["reachable"]
    for run in (by_option, by_url):
        assert PG_ROLE_PASSWORD not in run.output + str(run.result)


def test_dsn_without_credentials_shows_while_the_password_stays_hidden(run_module, postgres_server):
    dsn = "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" % (PG_ROLE, postgres_server.port, PG_DATABASE)
    run = run_module("postgres_probe", {"dsn": dsn, "password": PG_ROLE_PASSWORD}, verbosity=3)

    assert run.result["reachable"] is True, run.result["error"]
    assert "\"dsn\": \"%s\"" % dsn in run.output  # module_args at -vvv
    assert PG_ROLE_PASSWORD not in run.output + str(run.result)


@pytest.mark.parametrize("args, message", [
    ({"samples": 0}, "samples must be 1 to 10000, got 0"),
    ({"connect_timeout": 0}, "connect_timeout must be 1 to 3600 seconds, got 0"),
    ({"port": 0}, "port must be 1 to 65535, got 0"),
    ({"connect_timeout": "soon"}, "connect_timeout"),
    ({"sslmode": "sometimes"}, "sslmode"),
    ({"dsn": "mysql://u:p@127.0.0.1/db"}, "dsn must be a PostgreSQL URL"),
])
def test_bad_options_fail_with_a_message_naming_them(run_module, args, message):
    run = run_module("postgres_probe", args)

    assert run.failed
    assert message in run.result["msg"]


def test_psycopg2_is_the_fallback_driver_with_the_same_figures(run_module, postgres_server, psycopg2_python):
    with held_connections(postgres_server, (PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE, 1)):
        by_psycopg3 = run_module("postgres_probe", probe_args(postgres_server)).result
        by_psycopg2 = run_module("postgres_probe", probe_args(postgres_server), interpreter=psycopg2_python).result

    assert by_psycopg2["reachable"] is True, by_psycopg2["error"]
    assert (by_psycopg3["driver"], by_psycopg2["driver"]) == ("psycopg", "psycopg2")
    for key in ("server_version", "max_connections", "superuser_reserved_connections", "rolconnlimit",
                "datconnlimit", "connections_in_use", "connections_available", "connections_available_binding"):
        assert by_psycopg2[key] == by_psycopg3[key], key
    assert by_psycopg2["connections_available"] == PG_ROLE_LIMIT - 1


def test_psycopg2_reports_errors_as_data_too(run_module, postgres_server, silent_port, psycopg2_python):
    wrong_password = run_module("postgres_probe", probe_args(postgres_server, password="nope"),
                                interpreter=psycopg2_python)
    silent = run_module("postgres_probe", {"host": "127.0.0.1", "port": silent_port, "user": "x",
                                           "connect_timeout": 2}, interpreter=psycopg2_python)

    assert wrong_password.result["reachable"] is False
    assert "authentication to postgresql://127.0.0.1:%d/%s failed" % (postgres_server.port, PG_DATABASE) \
        in wrong_password.result["error"]
    assert silent.result["reachable"] is False
    assert "no answer from postgresql://127.0.0.1:%d/postgres within 2 s" % silent_port in silent.result["error"]
    assert silent.elapsed < 2 + 8


def test_missing_driver_names_the_install(run_module, bare_python):
    run = run_module("postgres_probe", {"host": "127.0.0.1"}, interpreter=bare_python)

    assert run.failed
    assert "Failed to import the required Python library (psycopg" in run.result["msg"]
    assert "pip install" in run.result["msg"]


def postgres_defaults():
    spec = dict(postgres_client.postgres_argument_spec(), **probe_argument_spec())
    return dict((name, option.get("default")) for name, option in spec.items())
