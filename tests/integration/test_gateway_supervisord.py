# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway role on a host without systemd: a real gateway under supervisord on this machine.

The session's gateway (conftest.py) is installed by the first test's run of the
mcpgateway.tuning.install playbook; the tests then re-apply, kill, switch and break it, and it
must be serving after each.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from conftest import recap
from harness.local_gateway import free_port


def command_line(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode()


def test_first_run_serves_an_authenticated_gateway(gateway):
    assert gateway.first_run.returncode == 0, gateway.first_run.stdout[-4000:]
    assert recap(gateway.first_run)["changed"] > 0
    status, body = gateway.request("/ready")
    assert (status, body["status"]) == (200, "ready")
    status, body = gateway.request("/rpc", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token=gateway.token())
    # JSON-RPC errors come back with HTTP 200: the body decides.
    assert status == 200 and "result" in body and "error" not in body, body
    assert gateway.request("/rpc", {"jsonrpc": "2.0", "id": 2, "method": "ping"})[0] == 401
    info = os.stat(gateway.env_file)
    assert oct(info.st_mode & 0o777) == "0o600" and info.st_uid == os.getuid()


def test_first_run_records_where_the_gateway_lives(gateway):
    """The record the other roles read instead of repeating the paths (their tests give none)."""
    path = os.path.join(gateway.fact_dir, "mcpgateway.fact")
    with open(path) as handle:
        record = json.load(handle)
    assert record == {
        "version": "1.1.0", "home": gateway.folder, "venv": gateway.venv, "config_dir": gateway.config_dir,
        "env_file": gateway.env_file, "state_dir": gateway.state_dir, "service_name": "mcpgateway",
        "service_manager": "supervisord", "user": gateway.account, "group": gateway.group, "container": {},
    }
    # Paths and names only: no URL, password or secret.
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_second_run_changes_nothing(gateway):
    pid = gateway.program_pid()
    completed = gateway.playbook(capture=True)
    assert completed.returncode == 0 and recap(completed)["changed"] == 0, completed.stdout[-4000:]
    assert gateway.program_pid() == pid


def test_check_mode_with_diff_changes_nothing_and_prints_no_secret(gateway):
    with open(os.path.join(gateway.config_dir, "generated-secrets.json")) as handle:
        secrets = list(json.load(handle).values())
    completed = gateway.playbook("--check", "--diff", "-vvv", capture=True)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0 and recap(completed)["changed"] == 0, completed.stdout[-4000:]
    assert len(secrets) == 4 and not [secret for secret in secrets if secret in output]


def test_a_changed_setting_restarts_without_printing_secrets(gateway):
    with open(os.path.join(gateway.config_dir, "generated-secrets.json")) as handle:
        secrets = list(json.load(handle).values())
    pid = gateway.program_pid()
    old_port = gateway.port
    gateway.port = free_port()
    try:
        completed = gateway.playbook("--diff", "-v", capture=True)
        assert completed.returncode == 0, completed.stdout[-4000:]
        assert not [secret for secret in secrets if secret in completed.stdout + completed.stderr]
        # HOST and PORT live in the environment file only: the server binds the new port.
        assert gateway.program_pid() != pid and gateway.wait_ready()
    finally:
        gateway.port = old_port
    assert gateway.playbook(capture=True).returncode == 0 and gateway.wait_ready()


@pytest.mark.parametrize("victim", ["master", "start helper"])
def test_a_killed_server_comes_back_without_its_old_workers(gateway, victim):
    old_program = gateway.program_pid()
    old_group = os.getpgid(old_program)
    os.kill(gateway.server_master() if victim == "master" else old_program, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = gateway.supervisorctl("status", "mcpgateway").stdout
        if "RUNNING" in status and gateway.program_pid() != old_program:
            break
        time.sleep(1)
    assert gateway.program_pid() != old_program
    assert gateway.wait_ready()
    survivors = []
    for pid in gateway.processes_left():
        try:
            if os.getpgid(pid) == old_group:
                survivors.append(pid)
        except ProcessLookupError:
            pass
    assert not survivors, "workers of the killed master still run: %s" % survivors


def test_switching_to_granian_and_back_serves_each_time(gateway):
    gateway.extra_vars["gateway_http_server"] = "granian"
    try:
        completed = gateway.playbook(capture=True)
        assert completed.returncode == 0, completed.stdout[-4000:]
        assert "/bin/granian" in command_line(gateway.server_master())
        assert gateway.request("/ready")[0] == 200
    finally:
        del gateway.extra_vars["gateway_http_server"]
    completed = gateway.playbook(capture=True)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "/bin/gunicorn" in command_line(gateway.server_master())
    assert gateway.request("/ready")[0] == 200


BAD_INPUTS = {
    "weak secret": ({"gateway_jwt_secret_key": "changeme"}, "gateway_jwt_secret_key"),
    # The Python running these tests (3.11 for ansible-core 2.19) is too old for the gateway.
    "old python": ({"gateway_python": sys.executable if sys.version_info < (3, 12) else "/usr/bin/python3.11"},
                   "No Python 3.12 or 3.13"),
}
if not os.path.isdir("/run/systemd/system"):
    BAD_INPUTS["systemd without systemd"] = ({"gateway_service_manager": "systemd"},
                                             "set gateway_service_manager to supervisord")


@pytest.mark.parametrize("bad_vars, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_fails_clearly_and_the_gateway_keeps_serving(gateway, bad_vars, message):
    pid = gateway.program_pid()
    with open(gateway.env_file) as handle:
        env_before = handle.read()
    gateway.extra_vars.update(bad_vars)
    try:
        completed = gateway.playbook(capture=True)
    finally:
        for name in bad_vars:
            del gateway.extra_vars[name]
    assert completed.returncode != 0
    assert message in completed.stdout, completed.stdout[-3000:]
    with open(gateway.env_file) as handle:
        assert handle.read() == env_before
    assert gateway.program_pid() == pid and gateway.request("/ready")[0] == 200
