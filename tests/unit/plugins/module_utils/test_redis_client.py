# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing of INFO and the option handling of the Redis probe, without a server."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import redis_client
from ansible_collections.mcpgateway.tuning.plugins.module_utils.probe_module import probe_argument_spec

# Trimmed from the INFO of redis-server 7.0.15 and of a Valkey 8 replica in cluster mode.
INFO_REDIS_7 = """\
# Server\r
redis_version:7.0.15\r
redis_git_sha1:00000000\r
redis_mode:standalone\r
os:Linux 6.1.0 x86_64\r
tcp_port:6379\r
executable:/usr/bin/redis-server\r
\r
# Clients\r
connected_clients:5\r
cluster_connections:0\r
maxclients:57\r
client_recent_max_input_buffer:20480\r
blocked_clients:1\r
\r
# Memory\r
used_memory:1081352\r
used_memory_human:1.03M\r
maxmemory:67108864\r
maxmemory_policy:noeviction\r
mem_fragmentation_ratio:9.72\r
\r
# Replication\r
role:master\r
connected_slaves:0\r
\r
# Cluster\r
cluster_enabled:0\r
\r
# Keyspace\r
db0:keys=3,expires=1,avg_ttl=5000\r
"""

INFO_VALKEY_REPLICA_NO_MAXCLIENTS = """\
# Server
redis_version:7.2.4
server_name:valkey
valkey_version:8.0.1
redis_mode:cluster
# Clients
connected_clients:12
blocked_clients:0
# Memory
used_memory:2000000
maxmemory:0
maxmemory_policy:allkeys-lru
# Replication
role:slave
master_host:10.0.0.1
# Cluster
cluster_enabled:1
# Errorstats
errorstat_ERR:count=2
"""


def test_parse_info_sections_numbers_and_nested_values():
    sections = redis_client.parse_info(INFO_REDIS_7)

    assert sorted(sections) == ["clients", "cluster", "keyspace", "memory", "replication", "server"]
    assert sections["server"]["redis_version"] == "7.0.15"
    assert sections["server"]["executable"] == "/usr/bin/redis-server"
    assert sections["clients"]["maxclients"] == 57
    assert sections["memory"]["mem_fragmentation_ratio"] == 9.72
    assert sections["memory"]["used_memory_human"] == "1.03M"
    assert sections["keyspace"]["db0"] == {"keys": 3, "expires": 1, "avg_ttl": 5000}


def test_summary_does_not_count_the_probe_connection():
    summary = redis_client.summarize_info(redis_client.parse_info(INFO_REDIS_7))

    assert summary == {
        "version": "7.0.15", "server_name": "redis", "mode": "standalone", "role": "master",
        "maxclients": 57, "connected_clients": 4, "replicas": 0, "cluster_connections": 0, "blocked_clients": 1,
        "maxmemory": 67108864, "maxmemory_policy": "noeviction", "used_memory": 1081352, "cluster_enabled": False,
        "clients_available": 53,
    }


def test_replicas_and_cluster_links_take_client_slots_too():
    text = INFO_REDIS_7.replace("connected_slaves:0", "connected_slaves:2").replace(
        "cluster_connections:0", "cluster_connections:3")
    summary = redis_client.summarize_info(redis_client.parse_info(text))

    # INFO's connected_clients leaves replicas out; maxclients counts them and the cluster bus.
    assert (summary["connected_clients"], summary["replicas"], summary["cluster_connections"]) == (4, 2, 3)
    assert summary["clients_available"] == 57 - 4 - 2 - 3


def test_summary_of_a_valkey_cluster_replica_without_maxclients_in_info():
    sections = redis_client.parse_info(INFO_VALKEY_REPLICA_NO_MAXCLIENTS)
    summary = redis_client.summarize_info(sections)

    assert sections["errorstats"]["errorstat_ERR"] == {"count": 2}
    assert summary["version"] == "8.0.1"
    assert summary["server_name"] == "valkey"
    assert summary["role"] == "slave"
    assert summary["mode"] == "cluster"
    assert summary["cluster_enabled"] is True
    assert summary["connected_clients"] == 11
    # maxclients comes from CONFIG GET for such servers; without it nothing can be derived.
    assert summary["maxclients"] is None
    assert summary["clients_available"] is None


def params(**overrides):
    spec = dict(redis_client.redis_argument_spec(), **probe_argument_spec())
    values = dict((name, option.get("default")) for name, option in spec.items())
    values.update(overrides)
    return values


def test_client_kwargs_for_tcp_with_tls_and_a_client_certificate():
    kwargs = redis_client.client_kwargs(params(host="cache", port=6380, db=2, username="gw", password="pw",
                                               tls=True, tls_ca_cert="/ca.pem", tls_cert="/c.pem", tls_key="/k.pem",
                                               timeout=2.5))

    retry = kwargs.pop("retry")
    assert retry.get_retries() == 0
    assert kwargs == {
        "socket_timeout": 2.5, "socket_connect_timeout": 2.5, "health_check_interval": 0,
        "username": "gw", "password": "pw", "ssl": True, "ssl_cert_reqs": "required", "ssl_check_hostname": True,
        "ssl_ca_certs": "/ca.pem", "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem",
        "host": "cache", "port": 6380, "db": 2,
    }


def test_client_kwargs_for_a_rediss_url_without_verification():
    kwargs = redis_client.client_kwargs(params(url="rediss://:pw@cache:6380/0", tls_verify=False))

    assert kwargs["ssl_cert_reqs"] == "none"
    assert kwargs["ssl_check_hostname"] is False
    assert "host" not in kwargs and "db" not in kwargs and "ssl" not in kwargs


def test_client_kwargs_for_a_unix_socket():
    kwargs = redis_client.client_kwargs(params(unix_socket="/run/redis/redis.sock"))

    assert kwargs["unix_socket_path"] == "/run/redis/redis.sock"
    assert "host" not in kwargs


@pytest.mark.parametrize("given, endpoint", [
    ({"url": "redis://user:secret@cache.internal:6379/3"}, "redis://cache.internal:6379/3"),
    ({"url": "rediss://:secret@cache:6380"}, "rediss://cache:6380"),
    ({"url": "unix:///run/redis.sock?db=1"}, "unix:///run/redis.sock"),
    ({"unix_socket": "/run/redis.sock"}, "unix:///run/redis.sock"),
    ({"host": "10.0.0.5", "port": 6380, "db": 1, "tls": True}, "rediss://10.0.0.5:6380/1"),
])
def test_endpoint_never_shows_the_password(given, endpoint):
    assert redis_client.endpoint_of(params(**given)) == endpoint


@pytest.mark.parametrize("url", [
    # An unencoded "/" in the password: a text cut at the first "/" kept ":pa" and showed "ss@cache" as the path.
    "redis://:pa/ss@cache:6379/0",
    "redis://gw:p@ss@cache:6379/0",
    "redis://gw:pa#ss@cache:6379/0",
    "http://gw:secret@cache:6379/0",
    "redis:/cache:6379",
])
def test_a_url_that_cannot_be_parsed_is_refused_without_its_text(url):
    # One fixed sentence, whatever the URL: nothing of its text can reach a message.
    with pytest.raises(redis_client.RedisProbeError) as raised:
        redis_client.endpoint_of(params(url=url))
    assert str(raised.value) == redis_client.UNPARSABLE_URL
    with pytest.raises(redis_client.RedisProbeError):
        redis_client.check_options(params(url=url))
    assert redis_client.url_has_password(url) is True


@pytest.mark.parametrize("given, message", [
    ({"timeout": 0}, "timeout must be 0.01 to 3600 seconds, got 0"),
    ({"timeout": float("inf")}, "timeout must be 0.01 to 3600 seconds, got inf"),
    ({"timeout": float("nan")}, "timeout must be 0.01 to 3600 seconds, got nan"),
    ({"port": 0}, "port must be 1 to 65535, got 0"),
    ({"db": -1}, "db must be 0 to 2147483647, got -1"),
    ({"tls_key": "/k.pem"}, "tls_cert and tls_key go together"),
    ({"url": "cache:6379"}, "url cannot be parsed as redis://"),
    ({"url": "memcached://cache:11211"}, "url cannot be parsed as redis://"),
])
def test_option_errors(given, message):
    with pytest.raises(redis_client.RedisProbeError, match=message):
        redis_client.check_options(params(**given))


class FakeClient:
    """A stand-in for redis.Redis in pure-logic tests of the probe's control flow."""

    def __init__(self, info_text, config=None, fail_with=None, client_list=None):
        self.info_text = info_text
        self.config = config or {}
        self.fail_with = fail_with
        self.closed = False
        self.callbacks = {}
        self.client_list = client_list

    def set_response_callback(self, command, callback):
        assert command in ("INFO", "CLIENT LIST")
        self.callbacks[command] = callback

    def ping(self):
        if self.fail_with:
            raise self.fail_with
        return True

    def execute_command(self, *command):
        if command == ("CLIENT", "ID"):
            return 7
        if command == ("CLIENT", "LIST"):
            if self.client_list is None:
                raise redis_client.redis.exceptions.ResponseError(
                    "this user has no permissions to run the 'client|list' command")
            return self.callbacks["CLIENT LIST"](self.client_list.encode())
        assert command == ("INFO",)
        return self.callbacks["INFO"](self.info_text.encode())

    def config_get(self, name):
        return {name: self.config[name]}

    def close(self):
        self.closed = True


def test_probe_falls_back_to_config_get_for_maxclients():
    client = FakeClient(INFO_VALKEY_REPLICA_NO_MAXCLIENTS, config={"maxclients": "100"})
    result = redis_client.probe_redis(params(samples=3), client_factory=lambda p: client)

    assert result["reachable"] is True
    assert result["maxclients"] == 100 and result["maxclients_source"] == "CONFIG GET"
    assert result["clients_available"] == 89
    assert result["latency_ms"]["samples"] == 3
    assert client.closed


def test_a_given_maxclients_replaces_config_get_where_info_lacks_it():
    # Redis before 7 with CONFIG renamed away: the operator's figure; CONFIG is not sent.
    client = FakeClient(INFO_VALKEY_REPLICA_NO_MAXCLIENTS, config={})
    result = redis_client.probe_redis(params(maxclients=100), client_factory=lambda p: client)

    assert (result["maxclients"], result["maxclients_source"], result["clients_available"]) == (100, "given", 89)
    assert result["error"] is None


def test_probe_reports_errors_as_data_and_closes_the_client():
    client = FakeClient("", fail_with=redis_client.redis.exceptions.AuthenticationError("invalid password"))
    result = redis_client.probe_redis(params(host="cache"), client_factory=lambda p: client)

    assert result["reachable"] is False
    assert result["error"].startswith("authentication to redis://cache:6379/0 failed (invalid password)")
    assert client.closed


@pytest.mark.parametrize("error, start", [
    ("Error 111 connecting to 127.0.0.1:1. Connection refused.", "connection refused by"),
    ("Timeout connecting to server", "no answer from"),
    ("Error 2 connecting to unix socket: /x.sock. No such file or directory.", "no Redis socket at"),
    ("Error -2 connecting to nohost:6379. Name or service not known.", "cannot resolve the host of"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS with"),
    ("NOPERM User gw has no permissions to run the 'info' command",
     "connected to redis://h:1/0 and logged in, but this user may not run INFO, so the client limit and the clients "
     "in use cannot be read: grant it (ACL SETUSER <user> +info;"),
    ("this user has no permissions to run the 'config|get' command", "connected to redis://h:1/0 and logged "
     "in, but this user may not run CONFIG|GET, so the client limit and the clients in use cannot be read: grant it "
     "(ACL SETUSER <user> +config|get;"),
    ("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxclients'",
     "redis://h:1/0 has no CONFIG command (renamed or disabled, as managed services do)"),
    ("something else entirely", "cannot talk to Redis at"),
])
def test_error_wording(error, start):
    exception = redis_client.redis.exceptions.ConnectionError(error)
    assert redis_client.explain_error(exception, "redis://h:1/0", 5).startswith(start)


@pytest.mark.parametrize("url, expected", [
    ("redis://127.0.0.1:6379/0", False), ("redis://gw@cache:6379/0", False), ("redis://:pw@cache/0", True),
    ("rediss://gw:pw@cache:6380/0", True), ("unix:///run/redis.sock", False),
    ("redis://:p%2Fw@cache/0", True),
])
def test_url_has_password(url, expected):
    assert redis_client.url_has_password(url) is expected


def test_maxclients_reached_is_a_full_server_not_a_down_one():
    client = FakeClient("", fail_with=redis_client.redis.exceptions.ConnectionError("max number of clients reached"))
    result = redis_client.probe_redis(params(host="cache"), client_factory=lambda p: client)

    assert (result["saturated"], result["clients_available"], result["reachable"]) == (True, 0, False)
    assert result["error"].startswith("redis://cache:6379/0 has no client slot left (max number of clients reached): "
                                      "raise maxclients")
    assert client.closed


def test_other_refusals_are_not_a_full_server():
    client = FakeClient("", fail_with=redis_client.redis.exceptions.AuthenticationError("invalid password"))
    result = redis_client.probe_redis(params(host="cache"), client_factory=lambda p: client)

    assert result["saturated"] is False and result["clients_available"] is None


CLIENT_LIST = """\
id=7 addr=10.0.0.11:50000 laddr=10.0.0.5:6379 fd=8 name= age=0 idle=0 flags=N db=0 cmd=client|list user=gw
id=8 addr=10.0.0.12:50010 laddr=10.0.0.5:6379 fd=9 name= age=9 idle=3 flags=N db=0 cmd=get user=gw
id=9 addr=10.0.0.12:50011 laddr=10.0.0.5:6379 fd=10 name= age=9 idle=3 flags=N db=0 cmd=get user=gw
id=10 addr=[fd00::13]:50012 laddr=[fd00::5]:6379 fd=11 name= age=9 idle=3 flags=N db=0 cmd=set user=gw
id=11 addr=/run/redis/redis.sock:0 laddr=/run/redis/redis.sock:0 fd=12 name= age=1 idle=1 flags=U db=0 cmd=ping user=gw
id=12 addr=10.0.0.12:50013 laddr=10.0.0.5:6379 fd=13 name= age=9 idle=3 flags=N db=0 cmd=info user=monitor
"""


def test_the_users_clients_by_address_leave_out_the_probe_and_other_users():
    assert redis_client.parse_client_list(CLIENT_LIST, 7) == {"10.0.0.12": 2, "fd00::13": 1, "local": 1}
    # Redis before 6 names no users: every other client counts.
    without_users = "\n".join(line.rsplit(" user=", 1)[0] for line in CLIENT_LIST.splitlines())
    assert redis_client.parse_client_list(without_users, 7) == {"10.0.0.12": 3, "fd00::13": 1, "local": 1}


def test_a_user_without_client_list_gets_no_addresses_and_no_error():
    listed = redis_client.probe_redis(params(), client_factory=lambda p: FakeClient(
        INFO_VALKEY_REPLICA_NO_MAXCLIENTS, config={"maxclients": "100"}, client_list=CLIENT_LIST))
    denied = redis_client.probe_redis(params(), client_factory=lambda p: FakeClient(
        INFO_VALKEY_REPLICA_NO_MAXCLIENTS, config={"maxclients": "100"}))

    assert listed["clients_by_address"] == {"10.0.0.12": 2, "fd00::13": 1, "local": 1}
    assert denied["clients_by_address"] is None and denied["error"] is None and denied["clients_available"] == 89
