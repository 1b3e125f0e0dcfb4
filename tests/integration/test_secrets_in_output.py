# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Passwords in connection strings never reach a probe's output, even at -vvvv: a quoted password
with spaces, spaces around "=", and a URL whose password holds an unencoded "/" (which libpq and a
text cut both read as host, port or path). Against servers of their own, whose passwords are those."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from harness.throwaway import PostgresServer, RedisServer

SPACED_PASSWORD = "Kx9v Qw3z Lm7p"
SLASHED_PASSWORD = "Zq7r/Wx4k-Lq84"


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        server.sql("CREATE ROLE spaced LOGIN PASSWORD '%s'" % SPACED_PASSWORD)
        server.sql("CREATE ROLE slashed LOGIN PASSWORD '%s'" % SLASHED_PASSWORD)
        server.sql("CREATE DATABASE mcp OWNER spaced")
        yield server


@pytest.fixture(scope="module")
def redis():
    with RedisServer(password=SLASHED_PASSWORD) as server:
        yield server


def shown(run):
    return run.output + json.dumps(run.result)


@pytest.mark.parametrize("template", [
    "host=127.0.0.1 port={port} user=spaced password='{password}' dbname=mcp sslmode=disable",
    "host = 127.0.0.1  port= {port} user =spaced password =  '{password}'  dbname= mcp sslmode=disable",
])
def test_a_quoted_password_with_spaces_connects_and_stays_hidden(run_module, postgres, template):
    run = run_module("postgres_probe", {"dsn": template.format(port=postgres.port, password=SPACED_PASSWORD)},
                     verbosity=4)
    assert run.result["reachable"] is True, run.result["error"]
    assert run.result["endpoint"] == "postgresql://127.0.0.1:%d/mcp" % postgres.port
    for part in SPACED_PASSWORD.split():
        assert part not in shown(run)


def test_a_postgresql_url_with_an_unencoded_slash_is_refused_without_its_text(run_module, postgres):
    run = run_module("postgres_probe", {"dsn": "postgresql://slashed:%s@127.0.0.1:%d/mcp?sslmode=disable"
                                        % (SLASHED_PASSWORD, postgres.port)}, verbosity=4)
    assert run.rc != 0 and run.result["msg"].startswith("dsn cannot be parsed as a libpq URL or key=value string")
    for part in SLASHED_PASSWORD.split("/"):
        assert part not in shown(run)
    # Encoded, the same password connects.
    encoded = run_module("postgres_probe", {"dsn": "postgresql://slashed:%s@127.0.0.1:%d/mcp?sslmode=disable"
                                            % (urllib.parse.quote(SLASHED_PASSWORD, safe=""), postgres.port)},
                         verbosity=4)
    assert encoded.result["reachable"] is True, encoded.result["error"]
    assert SLASHED_PASSWORD.split("/")[1] not in shown(encoded)


def test_a_redis_url_with_an_unencoded_slash_is_refused_without_its_text(run_module, redis):
    run = run_module("redis_probe", {"url": redis.url(None, SLASHED_PASSWORD)}, verbosity=4)
    assert run.rc != 0 and run.result["msg"].startswith("url cannot be parsed as redis://")
    for part in SLASHED_PASSWORD.split("/"):
        assert part not in shown(run)
    encoded = run_module("redis_probe", {"url": redis.url(None, urllib.parse.quote(SLASHED_PASSWORD, safe=""))},
                         verbosity=4)
    assert encoded.result["reachable"] is True, encoded.result["error"]
    assert encoded.result["endpoint"] == "redis://127.0.0.1:%d/0" % redis.port
    assert SLASHED_PASSWORD.split("/")[1] not in shown(encoded)
