# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Servers that accept a probe's connection and then stall it: each probe ends at its deadline,
reports the server as not reachable, and says what it was doing. Without the deadline these ran
past 40 s with timeouts of 2 and 5 s (the timeouts bound each read, not the call)."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from conftest import PG_DATABASE, PG_ROLE, PG_ROLE_PASSWORD
from harness.throwaway import TricklingPort

DEADLINE = 4
# ansible-playbook starting and ending around the module, on a busy 2-vCPU machine.
OVERHEAD = 15


@contextlib.contextmanager
def paused(pgbouncer):
    """PgBouncer's PAUSE: clients still log in (PgBouncer answers the login with the server's settings
    it learnt from a first session), and their queries wait for the RESUME."""
    with psycopg.connect(host=pgbouncer.host, port=pgbouncer.port, user=PG_ROLE, password=PG_ROLE_PASSWORD,
                         dbname=PG_DATABASE, connect_timeout=5) as first:
        first.execute("SELECT 1")
    admin = psycopg.connect(host=pgbouncer.host, port=pgbouncer.port, user=PG_ROLE, password=PG_ROLE_PASSWORD,
                            dbname="pgbouncer", connect_timeout=5, autocommit=True,
                            cursor_factory=psycopg.ClientCursor)
    try:
        admin.execute("PAUSE %s" % PG_DATABASE)
        yield
    finally:
        admin.execute("RESUME %s" % PG_DATABASE)
        admin.close()


def test_a_postgresql_that_logs_in_and_never_answers_ends_at_the_deadline(run_module, pgbouncer_server):
    with paused(pgbouncer_server):
        run = run_module("postgres_probe", {"host": pgbouncer_server.host, "port": pgbouncer_server.port,
                                            "user": PG_ROLE, "password": PG_ROLE_PASSWORD, "database": PG_DATABASE,
                                            "sslmode": "disable", "connect_timeout": 2, "deadline": DEADLINE})
    assert run.rc == 0 and run.result["reachable"] is False, run.result
    assert run.result["stalled_phase"] == "asking whether it is PgBouncer (the first query)"
    assert run.result["error"].startswith("postgresql://%s:%d/%s did not finish answering the probe within its "
                                          "deadline of 4 s: it stalled while asking whether it is PgBouncer"
                                          % (pgbouncer_server.host, pgbouncer_server.port, PG_DATABASE))
    assert run.elapsed < DEADLINE + OVERHEAD


def test_a_redis_that_sends_a_byte_every_3_s_ends_at_the_deadline(run_module):
    with TricklingPort(interval=3) as port:
        run = run_module("redis_probe", {"host": "127.0.0.1", "port": port.port, "timeout": 5,
                                         "deadline": DEADLINE, "fail_unreachable": True})
    assert run.rc != 0 and run.result["reachable"] is False
    assert run.result["stalled_phase"] == "connecting, logging in and answering the first PING"
    assert "did not finish answering the probe within its deadline of 4 s" in run.result["msg"]
    assert run.elapsed < DEADLINE + OVERHEAD


@pytest.mark.parametrize("module, deadline", [
    ("redis_probe", 0), ("redis_probe", "inf"), ("postgres_probe", "nan"), ("postgres_probe", 3601),
])
def test_a_deadline_that_cannot_work_is_refused(run_module, module, deadline):
    run = run_module(module, {"host": "127.0.0.1", "port": 9, "deadline": deadline})
    assert run.rc != 0 and run.result["msg"].startswith("deadline must be 1 to 3600 seconds, got ")
