# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything about talking to Redis: options, connection, INFO parsing, error wording.

Modules stay thin: they declare ``redis_argument_spec()``, call ``probe_redis()`` and
return its data.
"""

from __future__ import annotations

import errno
import re
import socket
import traceback

from ansible_collections.mcpgateway.tuning.plugins.module_utils.latency import time_calls
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, PORT_RANGE, first_range_problem

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

REDIS_PIP_HINT = "redis (pip install 'redis>=4.2' into the Python that Ansible uses on the target)"


def redis_argument_spec():
    return dict(
        url=dict(type="str", no_log=True),
        host=dict(type="str", default="localhost"),
        port=dict(type="int", default=6379),
        unix_socket=dict(type="path"),
        db=dict(type="int", default=0),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        tls=dict(type="bool", default=False),
        tls_ca_cert=dict(type="path"),
        tls_cert=dict(type="path"),
        tls_key=dict(type="path", no_log=False),
        tls_verify=dict(type="bool", default=True),
        timeout=dict(type="float", default=5.0),
    )


REDIS_MUTUALLY_EXCLUSIVE = [("url", "unix_socket")]


class RedisProbeError(Exception):
    """A probe that cannot start because of its own options."""


REDIS_RANGES = {"timeout": (0.01, HOUR, "seconds"), "port": PORT_RANGE, "db": (0, 2 ** 31 - 1, ""),
                "maxclients": (1, 10 ** 6, "")}


def check_options(params):
    problem = first_range_problem(params, REDIS_RANGES)
    if problem:
        raise RedisProbeError(problem)
    if params.get("url"):
        redis_url_parts(params["url"])
    if bool(params["tls_cert"]) != bool(params["tls_key"]):
        raise RedisProbeError("tls_cert and tls_key go together: give both for a client certificate, or neither")


def endpoint_of(params):
    """Where the probe connects, for messages: never contains the password."""
    if params.get("url"):
        parsed = redis_url_parts(params["url"])
        return "%s://%s%s" % (parsed["scheme"], parsed["location"], parsed["path"])
    if params.get("unix_socket"):
        return "unix://%s" % params["unix_socket"]
    return "%s://%s:%d/%d" % ("rediss" if params["tls"] else "redis", params["host"], params["port"], params["db"])


# scheme://[credentials@]location[/path][?query]: credentials hold no "/", "?", "#" or "@" unencoded,
# a location no "@", a path and a query no "@". Anything else is not parsed, and not shown.
URL_SHAPE = re.compile(r"^(?P<scheme>rediss?|unix)://(?:(?P<credentials>[^@/?#]*)@)?(?P<location>[^@/?#]*)"
                       r"(?P<path>/[^@?#]*)?(?:\?[^@#]*)?$")
UNPARSABLE_URL = ("url cannot be parsed as redis://[user:password@]host:port/db, rediss://… or unix:///path (its "
                  "text is not shown: it may hold a password); percent-encode reserved characters of the user and "
                  "password (/ as %2F, @ as %40, : as %3A, # as %23, ? as %3F)")


def redis_url_parts(url):
    """Scheme, location (host:port), path and whether there is a password, of a redis URL. Raises
    RedisProbeError without any of its text when it does not have that shape."""
    match = URL_SHAPE.match(url)
    if not match:
        raise RedisProbeError(UNPARSABLE_URL)
    credentials = match.group("credentials")
    return {"scheme": match.group("scheme"), "location": match.group("location"), "path": match.group("path") or "",
            "password": credentials is not None and ":" in credentials}


def url_has_password(url):
    """Whether a URL carries a password (user:password@ or :password@); an unparsable one may."""
    try:
        return redis_url_parts(url)["password"]
    except RedisProbeError:
        return True


def client_kwargs(params):
    """Keyword arguments for redis.Redis / redis.Redis.from_url."""
    kwargs = dict(
        socket_timeout=params["timeout"],
        socket_connect_timeout=params["timeout"],
        # One attempt only: redis-py retries by default, which would multiply the timeout.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    if params.get("username"):
        kwargs["username"] = params["username"]
    if params.get("password") is not None:
        kwargs["password"] = params["password"]
    url = params.get("url") or ""
    if params["tls"] or url.startswith("rediss://"):
        kwargs.update(ssl_cert_reqs="required" if params["tls_verify"] else "none",
                      ssl_check_hostname=params["tls_verify"])
        if params.get("tls_ca_cert"):
            kwargs["ssl_ca_certs"] = params["tls_ca_cert"]
        if params.get("tls_cert"):
            kwargs.update(ssl_certfile=params["tls_cert"], ssl_keyfile=params["tls_key"])
    if not url:
        if params.get("unix_socket"):
            kwargs["unix_socket_path"] = params["unix_socket"]
        else:
            kwargs.update(host=params["host"], port=params["port"])
            if params["tls"]:
                kwargs["ssl"] = True
        kwargs["db"] = params["db"]
    return kwargs


def make_client(params):
    kwargs = client_kwargs(params)
    if params.get("url"):
        return redis.Redis.from_url(params["url"], **kwargs)
    return redis.Redis(**kwargs)


def parse_info(text):
    """Raw INFO text -> {section: {field: value}}; numbers become int or float.

    Keyspace lines (db0:keys=1,expires=0) become dicts, as do other k=v,k=v values.
    """
    sections = {}
    current = sections.setdefault("default", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("# ").strip().lower(), {})
            continue
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        current[key] = _info_value(value)
    if not sections["default"]:
        del sections["default"]
    return sections


def _info_value(value):
    items = value.split(",")
    if "=" in value and all("=" in item for item in items):
        return dict((name, _info_scalar(number)) for name, _sep, number in (item.partition("=") for item in items))
    return _info_scalar(value)


def _info_scalar(value):
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _count(value):
    return value if isinstance(value, int) else 0


def clients_available(summary):
    """Connections a new client may still open: Redis refuses one once its clients, replicas
    included, and its cluster bus links reach maxclients; INFO's connected_clients leaves the
    replicas out, so they are counted apart. None when maxclients or the clients are unknown."""
    if not isinstance(summary["maxclients"], int) or summary["connected_clients"] is None:
        return None
    return summary["maxclients"] - summary["connected_clients"] - summary["replicas"] - summary["cluster_connections"]


def summarize_info(sections, own_connections=1):
    """The figures the planner needs from parsed INFO.

    own_connections: connections the probe itself holds; they are not counted as in use.
    """
    merged = {}
    for fields in sections.values():
        merged.update(fields)
    connected = merged.get("connected_clients")
    in_use = max(0, connected - own_connections) if isinstance(connected, int) else None
    summary = {
        "version": str(merged.get("valkey_version") or merged.get("redis_version") or "") or None,
        "server_name": merged.get("server_name") or "redis",
        "mode": merged.get("redis_mode"),
        "role": merged.get("role"),
        "maxclients": merged.get("maxclients"),
        "connected_clients": in_use,
        "replicas": _count(merged.get("connected_slaves")),
        "cluster_connections": _count(merged.get("cluster_connections")),
        "blocked_clients": merged.get("blocked_clients"),
        "maxmemory": merged.get("maxmemory"),
        "maxmemory_policy": merged.get("maxmemory_policy"),
        "used_memory": merged.get("used_memory"),
        "cluster_enabled": bool(merged.get("cluster_enabled", 0)),
    }
    summary["clients_available"] = clients_available(summary)
    return summary


def explain_error(error, endpoint, timeout):
    """A sentence naming what went wrong and what to check, from a redis-py exception."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, redis.exceptions.AuthenticationError) or "wrongpass" in lowered or "noauth" in lowered \
            or "invalid username-password" in lowered or "authentication required" in lowered:
        return ("authentication to %s failed (%s): check username and password (ACL user or requirepass)"
                % (endpoint, text))
    if isinstance(error, (redis.exceptions.TimeoutError, socket.timeout)) or "timed out" in lowered \
            or "timeout" in lowered:
        return ("no answer from %s within %.1f s: the port accepts but does not answer like Redis, "
                "or the server is overloaded or behind a firewall that drops packets (%s)" % (endpoint, timeout, text))
    if MAXCLIENTS_REACHED in lowered:
        return ("%s has no client slot left (%s): raise maxclients (and the ulimit -n of redis-server), or close "
                "idle clients; the tune role gives back what untuned gateways' pools hold" % (endpoint, text))
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return ("TLS with %s failed (%s): check tls, tls_ca_cert, tls_cert/tls_key and tls_verify, and that the "
                "server listens with TLS on that port" % (endpoint, text))
    if "refused" in lowered or "error %d " % errno.ECONNREFUSED in lowered or "errno 111" in lowered:
        return ("connection refused by %s: nothing listens there; check host and port and that redis-server runs"
                % endpoint)
    if "no such file" in lowered or "error %d " % errno.ENOENT in lowered:
        return "no Redis socket at %s: check unix_socket and that redis-server runs with unixsocket set" % endpoint
    if "name or service not known" in lowered or "nodename nor servname" in lowered \
            or "temporary failure in name resolution" in lowered:
        return "cannot resolve the host of %s: check host" % endpoint
    # redis-py keeps the error's text but not its NOPERM code.
    if "noperm" in lowered or DENIED_COMMAND.search(text):
        denied = DENIED_COMMAND.search(text)
        command = denied.group(1) if denied else "a command the probe needs"
        return ("connected to %s and logged in, but this user may not run %s, so the client limit and the clients "
                "in use cannot be read: grant it (ACL SETUSER <user> +%s; the probe runs +ping +info +config|get)%s"
                % (endpoint, command.upper(), command if denied else "@connection +info +config|get",
                   "; or, where only CONFIG is denied, pass the server's maxclients to the probe"
                   if denied and denied.group(1).lower().startswith("config") else ""))
    if "unknown command" in lowered and "config" in lowered:
        return ("%s has no CONFIG command (renamed or disabled, as managed services do) and its INFO does not report "
                "maxclients (Redis before 7), so the client limit cannot be read: pass the server's maxclients to "
                "the probe (your provider documents it), let this user run CONFIG GET maxclients, or upgrade to "
                "Redis 7" % endpoint)
    return "cannot talk to Redis at %s: %s" % (endpoint, text)


def empty_result(params, endpoint):
    result = {
        "reachable": False,
        "error": None,
        "endpoint": endpoint,
        "tls": bool(params["tls"] or (params.get("url") or "").startswith("rediss://")),
        "latency_ms": None,
        "stalled_phase": None,
    }
    result.update(summarize_info({}))
    result["maxclients_source"] = None
    result["saturated"] = False
    result["clients_by_address"] = None
    return result


def parse_client_list(text, own_id):
    """CLIENT LIST -> the clients of the probe's user by the address they come from ("local" for a unix
    socket), the probe's own connection (own_id) left out. Clients that name no user (Redis before 6)
    are all counted."""
    entries = []
    for line in text.splitlines():
        fields = dict(item.partition("=")[::2] for item in line.split() if "=" in item)
        if fields.get("id"):
            entries.append(fields)
    own = [entry for entry in entries if entry["id"] == str(own_id)]
    user = own[0].get("user") if own else None
    by_address = {}
    for entry in entries:
        if entry["id"] == str(own_id) or (user is not None and entry.get("user") != user):
            continue
        address = entry.get("addr", "")
        host = "local" if address.startswith("/") else address.rpartition(":")[0].strip("[]")
        by_address[host] = by_address.get(host, 0) + 1
    return by_address


def clients_by_address(client):
    """The probe's user's clients by address (parse_client_list), or None where the user may not run
    CLIENT LIST or CLIENT ID: a plan then counts none of them by address."""
    try:
        own_id = client.execute_command("CLIENT", "ID")
        raw = client.execute_command("CLIENT", "LIST")
    except redis.exceptions.ResponseError:
        return None
    return parse_client_list(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw, own_id)


# What Redis answers a client it accepts beyond maxclients, before it closes the connection.
MAXCLIENTS_REACHED = "max number of clients reached"

# Redis 6 and 7: "NOPERM this user has no permissions to run the 'info' command" (redis-py drops "NOPERM").
DENIED_COMMAND = re.compile(r"permissions? to run the '([^']+)' command", re.IGNORECASE)


def probe_redis(params, client_factory=None, progress=None):
    """Connect, time PINGs, read INFO. Unreachable is returned as data, never raised.
    progress["phase"] says what the probe is doing, for a deadline that passes."""
    progress = {} if progress is None else progress
    check_options(params)
    endpoint = endpoint_of(params)
    result = empty_result(params, endpoint)
    client = None
    try:
        client = (client_factory or make_client)(params)
        # Raw INFO text, so the parsing is ours and the same for every redis-py version.
        for command in ("INFO", "CLIENT LIST"):
            client.set_response_callback(command, lambda response, **options: response)
        progress["phase"] = "connecting, logging in and answering the first PING"
        client.ping()
        result["reachable"] = True
        progress["phase"] = "timing round trips (PING)"
        result["latency_ms"] = time_calls(client.ping, params["samples"])
        progress["phase"] = "sending INFO"
        raw = client.execute_command("INFO")
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        result.update(summarize_info(parse_info(text)))
        result["maxclients_source"] = "INFO"
        progress["phase"] = "listing the clients (CLIENT LIST)"
        result["clients_by_address"] = clients_by_address(client)
        if result["maxclients"] is None:
            # Before Redis 7 INFO does not carry maxclients: the operator's figure, else CONFIG GET.
            if params.get("maxclients"):
                result["maxclients"], result["maxclients_source"] = params["maxclients"], "given"
            else:
                progress["phase"] = "reading CONFIG GET maxclients"
                config = client.config_get("maxclients")
                result["maxclients"] = int(config["maxclients"])
                result["maxclients_source"] = "CONFIG GET"
            result["clients_available"] = clients_available(result)
    except (redis.exceptions.RedisError, OSError, ValueError) as error:
        result["error"] = explain_error(error, endpoint, params["timeout"])
        if MAXCLIENTS_REACHED in str(error).lower() and not result["reachable"]:
            # Full, not down: no client slot is free now. The plan counts what the gateways hold.
            result.update(saturated=True, clients_available=0)
    finally:
        if client is not None:
            client.close()
    return result
