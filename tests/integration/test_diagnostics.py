# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the PostgreSQL probe says when it cannot get in points to the real cause.

Each case is a real refusal: a database or a role with CONNECTION LIMIT 0 (which raising
max_connections does not fix), a pg_hba.conf that takes this client only over TLS or only
without it, a port where SSH or HTTP answers (not a TLS problem), a CA file that is not there
(not a missing socket). They used to be worded as the nearest general case; each message must
name its cause and its fix.
"""

from __future__ import annotations

import pytest

from harness.throwaway import ForeignPort, PostgresServer

ROLE, PASSWORD = "diag", "diag-pass-Qm27w"


@pytest.fixture(scope="module")
def postgres(certificates):
    with PostgresServer(certificates=certificates) as server:
        server.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (ROLE, PASSWORD))
        server.sql("CREATE ROLE locked LOGIN PASSWORD '%s' CONNECTION LIMIT 0" % PASSWORD)
        server.sql("CREATE DATABASE closed CONNECTION LIMIT 0")
        server.sql("CREATE DATABASE open")
        yield server


def probe(port, **options):
    arguments = {"host": "127.0.0.1", "port": port, "user": ROLE, "password": PASSWORD, "database": "open",
                 "connect_timeout": 3}
    arguments.update(options)
    return ("postgres_probe", arguments)


def test_each_refusal_is_explained_by_its_cause(postgres, run_cases, certificates):
    with ForeignPort("ssh") as ssh, ForeignPort("http") as http:
        results = run_cases([
            probe(postgres.port, database="closed"),
            probe(postgres.port, user="locked"),
            probe(ssh.port),
            probe(http.port),
            probe(http.port, sslmode="disable"),
            probe(postgres.port, sslmode="verify-full", ssl_rootcert=certificates.folder + "/missing-ca.crt"),
        ])
    closed, locked, on_ssh, on_http, on_http_plain, missing_ca = results
    assert closed["reachable"] is False
    assert closed["error"].startswith("database closed has reached its CONNECTION LIMIT at postgresql://127.0.0.1")
    assert 'ALTER DATABASE "closed" CONNECTION LIMIT n' in closed["error"]
    assert "max_connections" not in closed["error"]
    assert locked["error"].startswith("role locked has reached its CONNECTION LIMIT")
    assert 'ALTER ROLE "locked" CONNECTION LIMIT n' in locked["error"] and "max_connections" not in locked["error"]
    for result in (on_ssh, on_http, on_http_plain):
        assert result["reachable"] is False
        assert "does not answer like PostgreSQL" in result["error"] and "check the port" in result["error"]
        assert not result["error"].startswith("TLS")
    assert missing_ca["failed"] and missing_ca["msg"].startswith(
        "ssl_rootcert %s/missing-ca.crt is not a file on this host" % certificates.folder)


def test_a_pg_hba_that_wants_tls_or_refuses_it_is_named(postgres, run_cases, certificates):
    postgres.use_hba("hostssl all all 127.0.0.1/32 scram-sha-256")
    try:
        over_tls_only = run_cases([probe(postgres.port, sslmode="disable"),
                                   probe(postgres.port, sslmode="verify-full", ssl_rootcert=certificates.ca_cert)])
        postgres.use_hba("hostnossl all all 127.0.0.1/32 scram-sha-256")
        without_tls_only = run_cases([probe(postgres.port, sslmode="require")])
    finally:
        postgres.use_hba("host all all 127.0.0.1/32 scram-sha-256")
    plain, verified = over_tls_only
    assert plain["error"].startswith("postgresql://127.0.0.1:%d/open accepts this client only over TLS" % postgres.port)
    assert "set sslmode=require" in plain["error"]
    # The advice works: the same client over TLS gets in.
    assert verified["reachable"] is True and verified["error"] is None
    assert without_tls_only[0]["error"].startswith(
        "postgresql://127.0.0.1:%d/open accepts this client only without encryption" % postgres.port)
