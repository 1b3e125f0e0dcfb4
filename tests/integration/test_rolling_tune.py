# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rolling tune under load through a real HAProxy: two gateway replicas on this machine (the
install playbook, supervisord, one JWT key), health-checked on /ready, and hey sending tools/list
through HAProxy for the whole run of the tune playbook with mcpgateway_tune_serial=1.

Without draining, each restart loses the requests HAProxy sends before its health check sees the
replica down: counted, not assumed. With tune_haproxy_socket, each replica is drained before its
restart and put back once HAProxy sees it up: no request may fail. A replica that does not come
back is rolled back, stays drained, and the rollout stops."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import parse_hey
from conftest import COLLECTIONS_ROOT
from harness.load_balancer import HAProxy, LoadBalancerError
from harness.local_gateway import GatewayError, LocalGateway, ansible_environment, find_gateway_python

pytestmark = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")

NAMES = ("gw-a", "gw-b")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two replicas sharing their secrets (a token of one is good on the other), behind HAProxy."""
    try:
        python = find_gateway_python()
    except GatewayError as reason:
        pytest.skip(str(reason))
    shared = {"gateway_jwt_secret_key": secrets.token_urlsafe(48),
              "gateway_auth_encryption_secret": secrets.token_urlsafe(48),
              "gateway_platform_admin_password": secrets.token_urlsafe(24),
              "gateway_default_user_password": secrets.token_urlsafe(24),
              "gateway_extra_env": {"RATE_LIMITING_ENABLED": "false"}}
    replicas = dict((name, LocalGateway(str(tmp_path_factory.mktemp(name)), COLLECTIONS_ROOT, python=python,
                                        extra_vars=shared)) for name in NAMES)
    installs = {}
    threads = [threading.Thread(target=lambda n=name: installs.__setitem__(n, replicas[n].playbook(capture=True)))
               for name in NAMES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for name, completed in installs.items():
            assert completed.returncode == 0, "%s: %s" % (name, completed.stdout[-3000:])
        try:
            balancer = HAProxy([(name, replicas[name].port) for name in NAMES])
        except LoadBalancerError as reason:
            pytest.skip(str(reason))
        folder = tmp_path_factory.mktemp("fleet")
        inventory = folder / "inventory.json"
        inventory.write_text(json.dumps({"mcpgateway": {"hosts": dict(
            (name, dict(replicas[name].role_vars(), ansible_connection="local", ansible_python_interpreter=sys.executable))
            for name in NAMES)}}))
        yield replicas, balancer, str(inventory)
        balancer.stop()
    finally:
        for replica in replicas.values():
            replica.stop()


def tune(inventory, settings):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               "-e", json.dumps(dict({"mcpgateway_tune_serial": 1}, **settings)), "mcpgateway.tuning.tune"]
    return subprocess.run(command, env=ansible_environment(COLLECTIONS_ROOT), capture_output=True, text=True,
                          timeout=1200, check=False)


class Load:
    """hey through HAProxy until stopped: answers by status, and requests that got none."""

    def __init__(self, url, token):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["hey", "-z", "1200s", "-c", "8", "-t", "20", "-m", "POST", "-H", "Authorization: Bearer " + token,
             "-H", "Content-Type: application/json", "-d", '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
             url + "/rpc"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=60)[0]
        report = parse_hey(output)
        return report["status_codes"], report["errors"], output


def rolling_tune_under_load(replicas, balancer, inventory, settings):
    load = Load(balancer.url, replicas["gw-a"].token(minutes=30))
    try:
        completed = tune(inventory, settings)
    finally:
        answers, errors, output = load.stop()
    return completed, answers, errors, output


def test_a_rolling_tune_drained_in_haproxy_loses_no_request(fleet):
    replicas, balancer, inventory = fleet
    undrained, answers, errors, dummy = rolling_tune_under_load(replicas, balancer, inventory, {"tune_workers": 2})
    assert undrained.returncode == 0, undrained.stdout[-4000:]
    failed = sum(count for code, count in answers.items() if code != 200) + errors
    # A refused request comes back at once, so a second without a replica fails thousands.
    print("rolling tune without draining: %d requests, %d failed (answers %s, %d errors)"
          % (sum(answers.values()) + errors, failed, answers, errors))

    drained, answers, errors, output = rolling_tune_under_load(replicas, balancer, inventory, {
        "tune_workers": 1, "tune_haproxy_socket": balancer.socket, "tune_haproxy_host": "localhost"})
    assert drained.returncode == 0, drained.stdout[-4000:]
    print("rolling tune drained in HAProxy: %d requests, %s" % (sum(answers.values()) + errors, answers))
    # Both replicas were restarted, one after the other, each drained first and put back after.
    assert drained.stdout.count("restarted once; /ready answered 200") == 2
    assert drained.stdout.count("TASK [mcpgateway.tuning.tune : Take the gateway out of HAProxy's rotation") == 2
    assert set(answers) == {200} and errors == 0, output[-3000:]
    assert answers[200] > 100


def test_the_last_replica_in_rotation_is_not_drained(fleet, run_module):
    dummy, balancer, dummy_inventory = fleet
    server = {"socket": balancer.socket, "backend": "mcpgateway", "wait_timeout": 30}
    taken_out = run_module("haproxy_server", dict(server, server="gw-b", state="maint"))
    assert not taken_out.failed and taken_out.result["changed"], taken_out.result
    refused = run_module("haproxy_server", dict(server, server="gw-a", state="drain"))
    assert refused.failed and refused.result["msg"].startswith(
        "no other server of backend mcpgateway takes requests now: taking gw-a out (drain) would leave none")
    assert refused.result["previous_state"] == "ready"
    back = run_module("haproxy_server", dict(server, server="gw-b", state="ready"))
    assert not back.failed and back.result["previous_state"] == "maint", back.result
    # Nothing changed for gw-a: a second drain would be refused the same way only while gw-b was out.
    again = run_module("haproxy_server", dict(server, server="gw-a", state="ready"))
    assert not again.failed and again.result["changed"] is False
