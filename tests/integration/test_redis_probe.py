# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_probe against a real redis-server started with requirepass, an ACL user,
maxclients, maxmemory, a unix socket and a TLS port."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import redis

from ansible_collections.mcpgateway.tuning.plugins.module_utils import redis_client
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import probe_argument_spec
from conftest import (
    REDIS_ACL_PASSWORD,
    REDIS_ACL_USER,
    REDIS_MAXCLIENTS,
    REDIS_MAXMEMORY,
    REDIS_PASSWORD,
)
from harness.throwaway import RedisServer


def server_version():
    output = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=True).stdout
    return output.split("v=")[1].split()[0]


def raw_connection(server, *commands):
    """A plain socket client that authenticates and sends commands without reading replies."""
    connection = socket.create_connection((server.host, server.port), timeout=5)
    payload = "AUTH %s\r\n" % REDIS_PASSWORD + "".join(command + "\r\n" for command in commands)
    connection.sendall(payload.encode())
    return connection


def wait_for_clients(server, expected):
    client = redis.Redis(host=server.host, port=server.port, password=REDIS_PASSWORD)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            info = client.info("clients")
            if info["connected_clients"] - 1 == expected:
                return info
            time.sleep(0.05)
        raise AssertionError("Redis never reached %d other clients: %s" % (expected, info))
    finally:
        client.close()


def test_requirepass_figures_match_the_server(run_module, redis_server):
    held = [raw_connection(redis_server, "PING") for dummy in range(3)]
    blocked = raw_connection(redis_server, "BLPOP mcpgw-nothing 20")
    try:
        wait_for_clients(redis_server, 4)
        run = run_module("redis_probe", {"host": redis_server.host, "port": redis_server.port,
                                         "password": REDIS_PASSWORD, "samples": 7})
    finally:
        for connection in held + [blocked]:
            connection.close()

    result = run.result
    assert run.rc == 0, run.output
    assert result["changed"] is False
    assert result["reachable"] is True
    assert result["error"] is None
    assert result["endpoint"] == "redis://127.0.0.1:%d/0" % redis_server.port
    assert result["version"] == server_version()
    assert result["server_name"] == "redis"
    assert result["role"] == "master"
    assert result["mode"] == "standalone"
    assert result["cluster_enabled"] is False
    assert result["maxclients"] == REDIS_MAXCLIENTS
    assert result["connected_clients"] == 4
    assert result["blocked_clients"] == 1
    assert result["clients_available"] == REDIS_MAXCLIENTS - 4
    assert result["maxmemory"] == REDIS_MAXMEMORY
    assert result["maxmemory_policy"] == "noeviction"
    assert result["used_memory"] > 0
    assert result["tls"] is False
    latency = result["latency_ms"]
    assert latency["samples"] == 7
    assert 0 < latency["min"] <= latency["p50"] <= latency["p99"] <= latency["max"]


REPLICATED_MAXCLIENTS = 20


def open_until_refused(server, limit):
    """Open plain clients until Redis refuses one; return how many it took and what it said."""
    opened = []
    try:
        for dummy in range(limit + 1):
            connection = socket.create_connection((server.host, server.port), timeout=5)
            connection.sendall(b"PING\r\n")
            reply = connection.recv(200)
            if not reply.startswith(b"+PONG"):
                connection.close()
                return len(opened), reply.decode()
            opened.append(connection)
        return len(opened), None
    finally:
        for connection in opened:
            connection.close()


def test_a_replica_takes_a_client_slot_and_the_server_agrees(run_module):
    """Redis counts an attached replica against maxclients while INFO leaves it out of
    connected_clients: the probe counts it, and the server then accepts exactly the rest."""
    with RedisServer(maxclients=REPLICATED_MAXCLIENTS) as primary, RedisServer(replica_of=primary):
        watcher = redis.Redis(host=primary.host, port=primary.port)
        try:
            deadline = time.monotonic() + 10
            while watcher.info("replication")["connected_slaves"] != 1:
                assert time.monotonic() < deadline, "the replica never attached: %s" % watcher.info("replication")
                time.sleep(0.1)
        finally:
            watcher.close()
        held = [socket.create_connection((primary.host, primary.port), timeout=5) for dummy in range(5)]
        try:
            run = run_module("redis_probe", {"host": primary.host, "port": primary.port})
            result = run.result
            assert result["reachable"] is True, result["error"]
            assert (result["connected_clients"], result["replicas"]) == (5, 1)
            assert result["clients_available"] == REPLICATED_MAXCLIENTS - 5 - 1

            opened, refusal = open_until_refused(primary, REPLICATED_MAXCLIENTS)
            assert opened == result["clients_available"]
            assert "max number of clients reached" in refusal
        finally:
            for connection in held:
                connection.close()


def test_acl_user_and_url_forms(run_module, redis_server):
    by_user = run_module("redis_probe", {"host": redis_server.host, "port": redis_server.port,
                                         "username": REDIS_ACL_USER, "password": REDIS_ACL_PASSWORD})
    by_url = run_module("redis_probe", {"url": redis_server.url(REDIS_ACL_USER, REDIS_ACL_PASSWORD)})
    by_socket = run_module("redis_probe", {"unix_socket": redis_server.unix_socket, "password": REDIS_PASSWORD})

    for run in (by_user, by_url, by_socket):
        assert run.result["reachable"] is True, run.result["error"]
        assert run.result["maxclients"] == REDIS_MAXCLIENTS
    assert by_url.result["endpoint"] == "redis://127.0.0.1:%d/0" % redis_server.port
    assert by_socket.result["endpoint"] == "unix://%s" % redis_server.unix_socket


@pytest.mark.parametrize("credentials", [
    {"password": "not-the-password"},
    {"username": REDIS_ACL_USER, "password": "not-the-acl-password"},
    {},
], ids=["wrong-requirepass", "wrong-acl-password", "no-password"])
def test_wrong_credentials_are_reported_as_data(run_module, redis_server, credentials):
    args = dict(host=redis_server.host, port=redis_server.port, timeout=3, **credentials)
    run = run_module("redis_probe", args)

    assert run.rc == 0
    assert run.result["reachable"] is False
    assert "authentication to redis://127.0.0.1:%d/0 failed" % redis_server.port in run.result["error"]
    assert "check username and password" in run.result["error"]
    assert run.result["maxclients"] is None
    assert run.elapsed < 3 + 8


def test_closed_port_is_refused_quickly(run_module):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed = placeholder.getsockname()[1]
    run = run_module("redis_probe", {"host": "127.0.0.1", "port": closed, "timeout": 3})

    assert run.result["reachable"] is False
    assert run.result["error"].startswith("connection refused by redis://127.0.0.1:%d/0" % closed)


def test_port_that_never_answers_times_out_within_the_timeout(run_module, silent_port):
    run = run_module("redis_probe", {"host": "127.0.0.1", "port": silent_port, "timeout": 2})

    assert run.result["reachable"] is False
    assert "no answer from redis://127.0.0.1:%d/0 within 2.0 s" % silent_port in run.result["error"]
    # The whole ansible run, start-up included, ends soon after the timeout.
    assert 2 <= run.elapsed < 2 + 8


def test_probe_itself_never_waits_past_the_timeout(silent_port):
    params = dict(redis_client_defaults(), host="127.0.0.1", port=silent_port, timeout=1.5)
    started = time.monotonic()
    result = redis_client.probe_redis(params)
    elapsed = time.monotonic() - started

    assert result["reachable"] is False
    assert 1.5 <= elapsed < 1.5 + 0.5


def test_fail_unreachable_fails_the_task_with_the_reason(run_module, redis_server):
    run = run_module("redis_probe", {"host": redis_server.host, "port": redis_server.port,
                                     "password": "wrong-one", "fail_unreachable": True})

    assert run.rc != 0
    assert run.failed
    assert "authentication to redis://127.0.0.1:%d/0 failed" % redis_server.port in run.result["msg"]


def test_tls_with_ca_client_certificate_and_verification(run_module, redis_server, certificates):
    base = {"host": "127.0.0.1", "port": redis_server.tls_port, "password": REDIS_PASSWORD, "tls": True,
            "timeout": 3}
    verified = run_module("redis_probe", dict(base, tls_ca_cert=certificates.ca_cert))
    with_client_cert = run_module("redis_probe", dict(base, tls_ca_cert=certificates.ca_cert,
                                                      tls_cert=certificates.client_cert,
                                                      tls_key=certificates.client_key))
    wrong_ca = run_module("redis_probe", dict(base, tls_ca_cert=certificates.other_ca_cert))
    unverified = run_module("redis_probe", dict(base, tls_ca_cert=certificates.other_ca_cert, tls_verify=False))
    plain_to_tls_port = run_module("redis_probe", dict(base, tls=False))

    for run in (verified, with_client_cert, unverified):
        assert run.result["reachable"] is True, run.result["error"]
        assert run.result["tls"] is True
        assert run.result["maxclients"] == REDIS_MAXCLIENTS
    assert verified.result["endpoint"] == "rediss://127.0.0.1:%d/0" % redis_server.tls_port
    assert wrong_ca.result["reachable"] is False
    assert wrong_ca.result["error"].startswith("TLS with rediss://127.0.0.1:%d/0 failed" % redis_server.tls_port)
    assert "certificate verify failed" in wrong_ca.result["error"]
    assert plain_to_tls_port.result["reachable"] is False


def test_check_mode_reads_the_same_and_changes_nothing(run_module, redis_server):
    run = run_module("redis_probe", {"url": redis_server.url(None, REDIS_PASSWORD)}, check=True)

    assert run.rc == 0
    assert run.result["changed"] is False
    assert run.result["reachable"] is True
    assert run.result["maxclients"] == REDIS_MAXCLIENTS


def test_passwords_never_reach_the_output(run_module, redis_server):
    by_option = run_module("redis_probe", {"host": redis_server.host, "port": redis_server.port,
                                           "username": REDIS_ACL_USER, "password": REDIS_ACL_PASSWORD},
                           verbosity=4)
    by_url = run_module("redis_probe", {"url": redis_server.url(None, REDIS_PASSWORD)}, verbosity=4)

    assert by_option.result["reachable"] and by_url.result["reachable"]
    assert REDIS_ACL_PASSWORD not in by_option.output + str(by_option.result)
    assert REDIS_PASSWORD not in by_url.output + str(by_url.result)


def test_url_without_credentials_shows_while_the_password_stays_hidden(run_module, redis_server):
    url = "redis://127.0.0.1:%d/0" % redis_server.port
    run = run_module("redis_probe", {"url": url, "password": REDIS_PASSWORD}, verbosity=3)

    assert run.result["reachable"] is True, run.result["error"]
    assert run.result["endpoint"] == url
    assert "\"url\": \"%s\"" % url in run.output  # module_args at -vvv
    assert REDIS_PASSWORD not in run.output + str(run.result)


@pytest.mark.parametrize("args, message", [
    ({"samples": 0}, "samples must be 1 to 10000, got 0"),
    ({"timeout": -1}, "timeout must be 0.01 to 3600 seconds, got -1"),
    ({"port": 70000}, "port must be 1 to 65535, got 70000"),
    ({"port": "six thousand"}, "port"),
    ({"tls": True, "tls_cert": "/etc/hostname"}, "tls_cert and tls_key go together"),
    ({"url": "http://example/"}, "url cannot be parsed as redis://"),
])
def test_bad_options_fail_with_a_message_naming_them(run_module, args, message):
    run = run_module("redis_probe", args)

    assert run.failed
    assert message in run.result["msg"]


def test_missing_redis_library_names_the_install(run_module, bare_python):
    run = run_module("redis_probe", {"port": 1}, interpreter=bare_python)

    assert run.failed
    assert "Failed to import the required Python library (redis" in run.result["msg"]
    assert "pip install" in run.result["msg"]


def redis_client_defaults():
    spec = dict(redis_client.redis_argument_spec(), **probe_argument_spec())
    return dict((name, option.get("default")) for name, option in spec.items())
