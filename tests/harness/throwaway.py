# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throwaway Redis and PostgreSQL servers on free loopback ports, for tests and the demo.

Each server runs from its own temporary folder, is started in the foreground of a child
process whose PID we keep, and is stopped by that PID. PostgreSQL refuses to run as root,
so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

LOOPBACK = "127.0.0.1"


class ServerError(Exception):
    """A throwaway server could not be started."""


# Below the kernel's ephemeral range (32768 to 60999 here): a port from that range may be taken at
# any moment as the source of an outgoing connection (a load test, a gateway's pools, ssh), and a
# server started on it then fails to bind, or a check connects to itself. Ports are drawn at
# random so that tests running at once rarely draw the same.
PORT_RANGE = (20000, 32000)


def free_port(host=LOOPBACK):
    for dummy in range(500):
        port = random.randrange(*PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise ServerError("no free port between %d and %d on %s" % (PORT_RANGE[0], PORT_RANGE[1], host))


def wait_for_port(host, port, timeout, process=None, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError("server exited with %s before listening on %s:%d%s"
                              % (process.returncode, host, port, _log_tail(log_path)))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError("nothing listens on %s:%d after %.0f s%s" % (host, port, timeout, _log_tail(log_path)))


def ready(url, timeout=5):
    """Whether the gateway at url answers /ready with 200 now."""
    try:
        with urllib.request.urlopen(url + "/ready", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(url, timeout, request_timeout=5):
    """Whether the gateway at url answers /ready with 200 within timeout seconds, asked every second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(url, request_timeout):
            return True
        time.sleep(1)
    return False


def _log_tail(log_path):
    if not log_path or not os.path.exists(log_path):
        return ""
    with open(log_path) as handle:
        return "\n" + "".join(handle.readlines()[-15:])


def stop_process(process, timeout=15):
    """Stop a process this harness started: SIGTERM, then SIGKILL after timeout seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl."""

    def __init__(self, folder):
        self.folder = folder
        self.ca_cert = os.path.join(folder, "ca.crt")
        self.server_cert = os.path.join(folder, "server.crt")
        self.server_key = os.path.join(folder, "server.key")
        self.client_cert = os.path.join(folder, "client.crt")
        self.client_key = os.path.join(folder, "client.key")
        self.other_ca_cert = os.path.join(folder, "other-ca.crt")

    def create(self):
        os.makedirs(self.folder, exist_ok=True)
        ca_key = os.path.join(self.folder, "ca.key")
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mcpgw test CA",
                      "-keyout", ca_key, "-out", self.ca_cert)
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=unrelated CA",
                      "-keyout", os.path.join(self.folder, "other-ca.key"), "-out", self.other_ca_cert)
        self._signed("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost", ca_key)
        self._signed("client", "/CN=mcpgw-client", None, ca_key)
        return self

    def _signed(self, name, subject, extension, ca_key):
        key = os.path.join(self.folder, name + ".key")
        request = os.path.join(self.folder, name + ".csr")
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", request)
        command = ["x509", "-req", "-in", request, "-CA", self.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                   "-days", "2", "-out", os.path.join(self.folder, name + ".crt")]
        if extension:
            extfile = os.path.join(self.folder, name + ".ext")
            with open(extfile, "w") as handle:
                handle.write(extension + "\n")
            command += ["-extfile", extfile]
        self._openssl(*command)
        os.chmod(key, 0o600)

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


class ThrowawayServer:
    """A server process started from its own temporary folder, stopped by its PID."""

    stop_timeout = 15

    def __init__(self):
        self.host = LOOPBACK
        self.port = None
        self.folder = None
        self.process = None

    def start(self):
        raise NotImplementedError

    def stop(self):
        stop_process(self.process, timeout=self.stop_timeout)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class RedisServer(ThrowawayServer):
    """redis-server with an optional requirepass, ACL users, maxclients, TLS port, and as a
    replica of another (replica_of: a started RedisServer without a password)."""

    def __init__(self, password=None, acl_users=None, maxclients=None, maxmemory=None, certificates=None,
                 replica_of=None):
        self.replica_of = replica_of
        self.password = password
        self.acl_users = acl_users or {}
        self.maxclients = maxclients
        self.maxmemory = maxmemory
        self.certificates = certificates
        self.tls_port = None
        super().__init__()

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerError("redis-server is not installed: apt-get install -y redis-server")
        self.folder = tempfile.mkdtemp(prefix="mcpgw-redis-")
        self.port = free_port()
        lines = ["bind %s" % self.host, "port %d" % self.port, "save \"\"", "appendonly no",
                 "dir %s" % self.folder, "logfile %s" % self.log_path, "daemonize no",
                 "unixsocket %s" % self.unix_socket, "unixsocketperm 700"]
        if self.password:
            lines.append("requirepass %s" % self.password)
        for user, (password, rules) in self.acl_users.items():
            lines.append("user %s on >%s %s" % (user, password, rules))
        if self.maxclients:
            lines.append("maxclients %d" % self.maxclients)
        if self.maxmemory:
            lines.append("maxmemory %d" % self.maxmemory)
        if self.replica_of:
            lines.append("replicaof %s %d" % (self.replica_of.host, self.replica_of.port))
        if self.certificates:
            self.tls_port = free_port()
            lines += ["tls-port %d" % self.tls_port, "tls-cert-file %s" % self.certificates.server_cert,
                      "tls-key-file %s" % self.certificates.server_key,
                      "tls-ca-cert-file %s" % self.certificates.ca_cert, "tls-auth-clients optional"]
        config = os.path.join(self.folder, "redis.conf")
        with open(config, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(config, 0o600)
        self.process = subprocess.Popen([binary, config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.host, self.port, 10, self.process, self.log_path)
        return self

    @property
    def log_path(self):
        return os.path.join(self.folder, "redis.log")

    @property
    def unix_socket(self):
        return os.path.join(self.folder, "redis.sock")

    def url(self, user=None, password=None):
        credentials = ""
        if password is not None:
            credentials = "%s:%s@" % (user or "", password)
        return "redis://%s%s:%d/0" % (credentials, self.host, self.port)


def postgres_bindir():
    configured = os.environ.get("PG_BINDIR")
    if configured:
        return configured
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return os.path.dirname(os.path.realpath(pg_ctl))
    raise ServerError("PostgreSQL server binaries are not installed: apt-get install -y postgresql")


class PostgresServer(ThrowawayServer):
    """A PostgreSQL cluster with password (scram) authentication over TCP on loopback.

    The superuser ``postgres`` logs in without a password over the cluster's own unix
    socket, which only the cluster's folder holds; TCP clients must give a password.
    """

    SUPERUSER = "postgres"
    stop_timeout = 30

    def __init__(self, settings=None, certificates=None):
        self.settings = dict(settings or {})
        self.certificates = certificates
        self.run_as = None
        super().__init__()

    @property
    def data_dir(self):
        return os.path.join(self.folder, "data")

    @property
    def socket_dir(self):
        return self.folder

    @property
    def log_path(self):
        return os.path.join(self.folder, "postgres.log")

    def _command(self, args):
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--"] + args
        return args

    def start(self):
        bindir = postgres_bindir()
        self.folder = tempfile.mkdtemp(prefix="mcpgw-pg-")
        os.chmod(self.folder, 0o755)
        if os.geteuid() == 0:
            self.run_as = self.SUPERUSER
            account = pwd.getpwnam(self.run_as)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.port = free_port()
        subprocess.run(self._command([os.path.join(bindir, "initdb"), "-D", self.data_dir, "-U", self.SUPERUSER,
                                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                                      "--no-sync"]),
                       check=True, capture_output=True)
        settings = {"listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": self.folder,
                    "fsync": "off", "logging_collector": "off"}
        if self.certificates:
            settings.update(self._install_certificates())
        settings.update((key, str(value)) for key, value in self.settings.items())
        with open(os.path.join(self.data_dir, "postgresql.auto.conf"), "a") as handle:
            for key, value in settings.items():
                handle.write("%s = '%s'\n" % (key, value))
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(self._command([os.path.join(bindir, "postgres"), "-D", self.data_dir]),
                                            stdout=log, stderr=log)
        finally:
            log.close()
        wait_for_port(self.host, self.port, 30, self.process, self.log_path)
        self._wait_ready(bindir)
        return self

    def _install_certificates(self):
        names = {}
        for setting, source in (("ssl_cert_file", self.certificates.server_cert),
                                ("ssl_key_file", self.certificates.server_key),
                                ("ssl_ca_file", self.certificates.ca_cert)):
            target = os.path.join(self.folder, "pg-" + os.path.basename(source))
            shutil.copy(source, target)
            os.chmod(target, 0o600)
            if self.run_as:
                account = pwd.getpwnam(self.run_as)
                os.chown(target, account.pw_uid, account.pw_gid)
            names[setting] = target
        names["ssl"] = "on"
        return names

    def _wait_ready(self, bindir):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(self._command([os.path.join(bindir, "pg_isready"), "-q", "-h", self.socket_dir,
                                                  "-p", str(self.port)]), check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ServerError("PostgreSQL did not get ready%s" % _log_tail(self.log_path))

    def sql(self, statement):
        """Run SQL as the superuser over the cluster's socket, return rows as tuples."""
        result = subprocess.run(
            self._command([os.path.join(postgres_bindir(), "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-h", self.socket_dir, "-p", str(self.port), "-U", self.SUPERUSER, "-d", "postgres",
                           "-c", statement]),
            check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServerError("psql failed: %s" % result.stderr.strip())
        return [tuple(line.split("|")) for line in result.stdout.splitlines() if line]

    def use_hba(self, *host_lines):
        """Replace pg_hba.conf with these TCP lines (the superuser's socket stays trusted) and reload."""
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as handle:
            handle.write("local all all trust\n" + "".join(line + "\n" for line in host_lines))
        self.sql("SELECT pg_reload_conf()")

    def client_sessions(self):
        """Client sessions open on the server, the superuser's psql included."""
        return int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0][0])

    def wait_for_sessions(self, at_most, timeout=10):
        """Wait until closed sessions have left the server (their backends exit asynchronously)."""
        deadline = time.monotonic() + timeout
        while self.client_sessions() > at_most:
            if time.monotonic() > deadline:
                raise ServerError("PostgreSQL still has more than %d client sessions after %d s" % (at_most, timeout))
            time.sleep(0.05)

    def url(self, user, password, database="postgres", driver=""):
        scheme = "postgresql+%s" % driver if driver else "postgresql"
        return "%s://%s:%s@%s:%d/%s" % (scheme, user, password, self.host, self.port, database)


class SilentPort:
    """A TCP port whose backlog completes handshakes but that never reads or answers."""

    def __init__(self):
        self.listener = None
        self.port = None

    def __enter__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        return self

    def __exit__(self, *exc_info):
        self.listener.close()


class ServedPort:
    """A loopback TCP port whose connections a daemon thread accepts and hands to serve() until the
    context ends; what is left open is closed then."""

    def __init__(self):
        self.listener = None
        self.port = None
        self.stopped = threading.Event()
        self.connections = []

    def __enter__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.stopped.is_set():
            try:
                connection = self.listener.accept()[0]
            except (socket.timeout, OSError):
                continue
            self.connections.append(connection)
            self.serve(connection)

    def serve(self, connection):
        raise NotImplementedError

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.listener.close()
        for connection in self.connections:
            connection.close()


class SourceBoundRelay(ServedPort):
    """A TCP relay on this machine's loopback to port on LOOPBACK, whose connections to it leave from
    source, another loopback address: the server sees its clients come from source, as a replica on
    another host would. For drivers that cannot choose their source address (libpq)."""

    def __init__(self, port, source):
        super().__init__()
        self.target = (LOOPBACK, port)
        self.source = source

    def serve(self, connection):
        upstream = socket.create_connection(self.target, timeout=10, source_address=(self.source, 0))
        upstream.settimeout(None)
        connection.settimeout(None)
        self.connections.append(upstream)
        for reader, writer in ((connection, upstream), (upstream, connection)):
            threading.Thread(target=self._pump, args=(reader, writer), daemon=True).start()

    @staticmethod
    def _pump(reader, writer):
        try:
            while True:
                data = reader.recv(65536)
                if not data:
                    break
                writer.sendall(data)
        except OSError:
            pass
        finally:
            try:
                writer.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class TricklingPort(ServedPort):
    """A TCP port that answers every connection one byte at a time, interval seconds apart (a Redis
    "+PONG" over and over): each read gets a byte before its timeout, so only a deadline on the
    whole call stops a client."""

    def __init__(self, interval=3.0, reply=b"+PONG\r\n"):
        super().__init__()
        self.interval = interval
        self.reply = reply

    def serve(self, connection):
        threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        position = 0
        while not self.stopped.wait(self.interval):
            try:
                connection.sendall(self.reply[position:position + 1])
            except OSError:
                return
            position = (position + 1) % len(self.reply)


class ForeignPort(ServedPort):
    """A TCP port where another service answers, as an SSH server (a banner first) or an HTTP server (an
    error to whatever it is sent) would: the port a client gets wrong. Each connection is answered and
    closed."""

    BANNERS = {"ssh": (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", None),
               "http": (None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")}

    def __init__(self, service):
        super().__init__()
        self.first, self.answer = self.BANNERS[service]

    def serve(self, connection):
        with connection:
            connection.settimeout(2)
            try:
                if self.first:
                    connection.sendall(self.first)
                connection.recv(4096)
                if self.answer:
                    connection.sendall(self.answer)
            except OSError:
                pass


class PgBouncerServer(ThrowawayServer):
    """PgBouncer on a free loopback port in front of one database of a PostgresServer.

    ``users`` maps user names to passwords; they authenticate with scram-sha-256 against the
    auth file, and ``admin_user`` may use the ``pgbouncer`` admin console. Like PostgreSQL,
    PgBouncer refuses root, so as root it runs as ``postgres``.
    """

    def __init__(self, postgres, database, users, admin_user, max_client_conn=50, default_pool_size=5,
                 pool_mode="transaction"):
        self.postgres = postgres
        self.database = database
        self.users = users
        self.admin_user = admin_user
        self.max_client_conn = max_client_conn
        self.default_pool_size = default_pool_size
        self.pool_mode = pool_mode
        super().__init__()

    @property
    def log_path(self):
        return os.path.join(self.folder, "pgbouncer.log")

    def start(self):
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            raise ServerError("pgbouncer is not installed: apt-get install -y pgbouncer")
        self.folder = tempfile.mkdtemp(prefix="mcpgw-pgbouncer-")
        os.chmod(self.folder, 0o755)
        self.port = free_port()
        auth_file = os.path.join(self.folder, "userlist.txt")
        with open(auth_file, "w") as handle:
            for user, password in self.users.items():
                handle.write('"%s" "%s"\n' % (user, password))
        config = os.path.join(self.folder, "pgbouncer.ini")
        with open(config, "w") as handle:
            handle.write("[databases]\n%s = host=%s port=%d dbname=%s\n\n[pgbouncer]\n"
                         % (self.database, self.postgres.host, self.postgres.port, self.database))
            for key, value in (("listen_addr", self.host), ("listen_port", self.port),
                               ("unix_socket_dir", self.folder), ("auth_type", "scram-sha-256"),
                               ("auth_file", auth_file), ("admin_users", self.admin_user),
                               ("max_client_conn", self.max_client_conn),
                               ("default_pool_size", self.default_pool_size), ("pool_mode", self.pool_mode),
                               ("logfile", self.log_path), ("pidfile", "")):
                handle.write("%s = %s\n" % (key, value))
        command = [binary, config]
        if os.geteuid() == 0:
            account = pwd.getpwnam(PostgresServer.SUPERUSER)
            for path in (self.folder, auth_file, config):
                os.chown(path, account.pw_uid, account.pw_gid)
            os.chmod(auth_file, 0o600)
            command = ["runuser", "-u", PostgresServer.SUPERUSER, "--"] + command
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.host, self.port, 10, self.process, self.log_path)
        return self


# ------------------------------------------------------------------ across processes
# Molecule's prepare, converge, verify and destroy are separate processes: the servers of a
# scenario are started by one and stopped by another, by the PIDs recorded in a state file.


def stop_recorded(record, timeout=30):
    """Stop a server a previous process started: SIGTERM to its PID, then remove its folder."""
    pid = record["pid"]
    if os.path.exists("/proc/%d" % pid):
        os.kill(pid, 15)
        deadline = time.monotonic() + timeout
        while os.path.exists("/proc/%d" % pid) and not _is_zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists("/proc/%d" % pid) and not _is_zombie(pid):
            os.kill(pid, 9)
    shutil.rmtree(record["folder"], ignore_errors=True)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (IOError, OSError, IndexError):
        return False


def start_scenario_servers(state_file, redis_maxclients, pg_max_connections, role, role_limit):
    """A Redis with a password and a PostgreSQL with a password-authenticated role and its database,
    for a Molecule scenario; their URLs and PIDs go to state_file (mode 0600: it holds passwords)."""
    redis_password = secrets.token_urlsafe(18)
    role_password = secrets.token_urlsafe(18)
    state = {}
    try:
        redis_server = RedisServer(password=redis_password, maxclients=redis_maxclients).start()
        state["redis"] = {"pid": redis_server.process.pid, "folder": redis_server.folder,
                          "url": redis_server.url(None, redis_password), "maxclients": redis_maxclients}
        postgres = PostgresServer(settings={"max_connections": pg_max_connections}).start()
        state["postgres"] = {"pid": postgres.process.pid, "folder": postgres.folder,
                             "max_connections": pg_max_connections, "role": role, "role_limit": role_limit,
                             "url": postgres.url(role, role_password, "mcp", driver="psycopg") + "?sslmode=disable"}
        postgres.sql("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT %d" % (role, role_password, role_limit))
        postgres.sql("CREATE DATABASE mcp OWNER %s" % role)
    finally:
        with os.fdopen(os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump(state, handle, indent=1)
    return state


def stop_scenario_servers(state_file):
    if not os.path.exists(state_file):
        return
    with open(state_file) as handle:
        state = json.load(handle)
    for record in state.values():
        stop_recorded(record)
    os.remove(state_file)


def main():
    parser = argparse.ArgumentParser(description="Redis and PostgreSQL for a Molecule scenario, on loopback")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("state_file")
    start.add_argument("--redis-maxclients", type=int, default=1000)
    start.add_argument("--pg-max-connections", type=int, default=100)
    start.add_argument("--pg-role", default="mcp")
    start.add_argument("--pg-role-limit", type=int, default=-1)
    stop = commands.add_parser("stop")
    stop.add_argument("state_file")
    args = parser.parse_args()
    if args.command == "start":
        try:
            start_scenario_servers(args.state_file, args.redis_maxclients, args.pg_max_connections, args.pg_role,
                                   args.pg_role_limit)
        except (ServerError, subprocess.CalledProcessError) as error:
            stop_scenario_servers(args.state_file)
            sys.exit("cannot start the scenario's servers: %s" % error)
    else:
        stop_scenario_servers(args.state_file)


if __name__ == "__main__":
    main()
