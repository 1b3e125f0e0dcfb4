# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gateway replicas on this machine behind a real HAProxy, for rolling tunes under load: the
install playbook (supervisord) for each replica, side by side, with one set of secrets (a token of
one replica is good on the others), an inventory of them in one group, and hey through HAProxy.
Used by tests/integration/test_rolling_tune.py and benchmarks/rollout.py."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import parse_hey
from harness.load_balancer import HAProxy
from harness.local_gateway import LocalGateway, ansible_environment, find_gateway_python

TOOLS_LIST = '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'


class FleetError(Exception):
    pass


class LocalFleet:
    """Replicas named names, each in a folder of folder, behind HAProxy. Raises GatewayError when
    no Python fits the gateway, LoadBalancerError without HAProxy, FleetError when an install fails.
    resend_empty_responses: see HAProxy."""

    def __init__(self, folder, collections_root, names=("gw-a", "gw-b"), resend_empty_responses=False):
        python = find_gateway_python()
        self.collections_root = collections_root
        shared = {"gateway_jwt_secret_key": secrets.token_urlsafe(48),
                  "gateway_auth_encryption_secret": secrets.token_urlsafe(48),
                  "gateway_platform_admin_password": secrets.token_urlsafe(24),
                  "gateway_default_user_password": secrets.token_urlsafe(24),
                  "gateway_extra_env": {"RATE_LIMITING_ENABLED": "false"}}
        self.replicas = dict((name, LocalGateway(os.path.join(folder, name), collections_root, python=python,
                                                 extra_vars=shared)) for name in names)
        self.balancer = None
        installs = {}
        threads = [threading.Thread(target=lambda n=name: installs.__setitem__(
            n, self.replicas[n].playbook(capture=True))) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            for name, completed in installs.items():
                if completed.returncode != 0:
                    raise FleetError("the install of %s failed: %s" % (name, completed.stdout[-3000:]))
            self.balancer = HAProxy([(name, self.replicas[name].port) for name in names],
                                    resend_empty_responses=resend_empty_responses)
        except Exception:
            self.stop()
            raise
        self.inventory = os.path.join(folder, "inventory.json")
        with open(self.inventory, "w") as handle:
            json.dump({"mcpgateway": {"hosts": dict(
                (name, dict(replica.role_vars(), ansible_connection="local", ansible_python_interpreter=sys.executable))
                for name, replica in self.replicas.items())}}, handle)

    def token(self, minutes=30):
        return next(iter(self.replicas.values())).token(minutes=minutes)

    def tune(self, settings):
        """The tune playbook over the fleet, one replica at a time, with these extra variables."""
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", self.inventory,
                   "-e", json.dumps(dict({"mcpgateway_tune_serial": 1}, **settings)), "mcpgateway.tuning.tune"]
        return subprocess.run(command, env=ansible_environment(self.collections_root), capture_output=True,
                              text=True, timeout=1200, check=False)

    def stop(self):
        if self.balancer is not None:
            self.balancer.stop()
        for replica in self.replicas.values():
            replica.stop()


def hey_command(url, token, concurrency, duration, timeout=20):
    """hey sending authenticated tools/list to url for duration (hey's "20s"), waiting timeout seconds
    for each response."""
    return ["hey", "-z", duration, "-c", str(concurrency), "-t", str(timeout), "-m", "POST",
            "-H", "Authorization: Bearer " + token, "-H", "Content-Type: application/json", "-d", TOOLS_LIST,
            url + "/rpc"]


class Load:
    """hey sending tools/list through url until stopped (20 minutes at most)."""

    def __init__(self, url, token, concurrency=8):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            hey_command(url, token, concurrency, "1200s"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def stop(self):
        """hey's report of the requests sent until now (load_report.parse_hey), and its output."""
        self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=60)[0]
        return parse_hey(output), output


def load_for(url, token, seconds, concurrency=8):
    """hey for seconds, to its end: its report (load_report.parse_hey)."""
    completed = subprocess.run(hey_command(url, token, concurrency, "%ds" % seconds), capture_output=True,
                               text=True, timeout=seconds + 120, check=False)
    return parse_hey(completed.stdout)
