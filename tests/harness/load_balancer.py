# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real HAProxy in front of gateway replicas on this machine or on its test machines: one frontend
on a free loopback port, one backend whose servers are health-checked on /ready, and the runtime API
on a unix socket at level admin. Started in the foreground by its own process, stopped by its PID.

As a script, for Molecule scenarios (the balancer outlives the playbook that starts it):

    python tests/harness/load_balancer.py start STATE_FILE NAME=ADDRESS:PORT ...
    python tests/harness/load_balancer.py stop STATE_FILE    (nothing to do when STATE_FILE is absent)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# tests/, where the harness package lives, when this file runs as a script.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.throwaway import LOOPBACK, free_port, stop_process, stop_recorded  # noqa: E402 pylint: disable=C0413

HAPROXY = "/usr/sbin/haproxy"


class LoadBalancerError(Exception):
    pass


class HAProxy:
    """servers: [(name, port)] on this machine's loopback, or [(name, address, port)], of the backend
    `backend`, checked every second (2 checks up or down).

    resend_empty_responses: HAProxy sends a request again (once per retry, to another server if it can)
    when the connection it used closed before any answer. That is the race of a keep-alive connection
    HAProxy reuses just as the replica closes it for idling, which no drain prevents; without it HAProxy
    closes the client's connection, and a client that does not resend a POST (hey) counts a failure.
    Requests that fail are logged either way (errors())."""

    def __init__(self, servers, backend="mcpgateway", resend_empty_responses=False):
        if not os.path.exists(HAPROXY):
            raise LoadBalancerError("HAProxy is not installed: apt-get install haproxy")
        self.folder = tempfile.mkdtemp(prefix="mcpgw-haproxy-")
        self.backend = backend
        self.port = free_port()
        self.socket = os.path.join(self.folder, "admin.sock")
        lines = [
            "global", "    stats socket %s mode 600 level admin" % self.socket, "    log stdout format raw local0",
            # A check may take up to 5 s (a loaded test machine answers /ready slowly): only a replica
            # that is down, not a slow one, leaves the rotation.
            "defaults", "    mode http", "    timeout connect 2s", "    timeout client 60s", "    timeout server 60s",
            "    timeout check 5s", "    log global", "    option httplog", "    option dontlog-normal",
            "frontend gateways", "    bind %s:%d" % (LOOPBACK, self.port), "    default_backend %s" % backend,
            "backend %s" % backend, "    balance roundrobin", "    option httpchk GET /ready",
            "    http-check expect status 200",
        ]
        if resend_empty_responses:
            lines += ["    retries 3", "    option redispatch", "    retry-on conn-failure empty-response"]
        endpoints = [tuple(server) if len(server) == 3 else (server[0], LOOPBACK, server[1]) for server in servers]
        lines += ["    server %s %s:%d check inter 1s fall 2 rise 2" % endpoint for endpoint in endpoints]
        self.config = os.path.join(self.folder, "haproxy.cfg")
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(self.folder, "haproxy.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([HAPROXY, "-db", "-f", self.config],  # pylint: disable=consider-using-with
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LoadBalancerError("HAProxy did not start: %s" % self.log())
            time.sleep(0.2)

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-3000:]

    def errors(self):
        """HAProxy's log lines of the requests that failed (option dontlog-normal keeps only those)."""
        with open(self.log_path, errors="replace") as handle:
            return [line.rstrip("\n") for line in handle if " HTTP/" in line]

    def stop(self):
        stop_process(self.process, timeout=20)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def start_recorded(state_file, servers):
    """HAProxy for servers [(name, address, port)], left running; its PID, folder, URL and admin socket
    go to state_file for the playbooks and for stop_recorded."""
    balancer = HAProxy(servers)
    state = {"pid": balancer.process.pid, "folder": balancer.folder, "url": balancer.url,
             "socket": balancer.socket, "backend": balancer.backend, "log": balancer.log_path}
    with open(state_file, "w") as handle:
        json.dump(state, handle, indent=1)
    return state


def server_argument(text):
    name, endpoint = text.partition("=")[::2]
    address, port = endpoint.rpartition(":")[::2]
    if not (name and address and port.isdigit()):
        raise argparse.ArgumentTypeError("expected NAME=ADDRESS:PORT, got %r" % text)
    return name, address, int(port)


def main():
    parser = argparse.ArgumentParser(description="HAProxy in front of gateway replicas, for a Molecule scenario")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start")
    start.add_argument("state_file")
    start.add_argument("servers", nargs="+", type=server_argument, metavar="NAME=ADDRESS:PORT")
    stop = commands.add_parser("stop")
    stop.add_argument("state_file")
    args = parser.parse_args()
    if args.command == "start":
        try:
            print(json.dumps(start_recorded(args.state_file, args.servers)))
        except LoadBalancerError as error:
            sys.exit(str(error))
    elif os.path.exists(args.state_file):
        with open(args.state_file) as handle:
            stop_recorded(json.load(handle))
        os.remove(args.state_file)


if __name__ == "__main__":
    main()
