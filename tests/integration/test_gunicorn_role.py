# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gunicorn role against the session's real gateway (conftest.py): the file it writes, the
check by the gateway's own Gunicorn, and a gateway that serves with what it wrote."""

from __future__ import annotations

import hashlib
import os

import pytest

from conftest import recap
from harness.local_gateway import children

ROLE_PLAYBOOK = """\
- name: Apply the gunicorn role
  hosts: mcpgateway
  gather_facts: false
  roles:
    - role: mcpgateway.tuning.gunicorn
"""


@pytest.fixture(scope="module")
def role_playbook(tmp_path_factory):
    path = tmp_path_factory.mktemp("gunicorn-role") / "gunicorn.yml"
    path.write_text(ROLE_PLAYBOOK)
    return str(path)


@pytest.fixture
def apply_role(gateway, role_playbook):
    def apply(settings, *options):
        extra_vars = dict(settings)
        return gateway.playbook(*options, capture=True, playbook=role_playbook, extra_vars=extra_vars)

    return apply


@pytest.fixture
def config_path(gateway):
    return os.path.join(gateway.config_dir, "gunicorn.conf.py")


def checksum(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def restart_and_count_workers(gateway):
    gateway.supervisorctl("restart", "mcpgateway", check=True)
    assert gateway.wait_ready()
    return len(children(gateway.server_master()))


def test_renders_every_knob_checks_it_and_serves_with_it(gateway, apply_role, config_path):
    settings = {"gunicorn_workers": 3, "gunicorn_timeout": 90, "gunicorn_keepalive": 7, "gunicorn_max_requests": 5000,
                "gunicorn_max_requests_jitter": 500, "gunicorn_access_log": True,
                "gunicorn_reasons": {"workers": "3 for the test"}}
    completed = apply_role(settings)
    assert completed.returncode == 0 and recap(completed)["changed"] >= 1, completed.stdout[-3000:]
    with open(config_path) as handle:
        text = handle.read()
    for line in ("workers = 3", "timeout = 90", "keepalive = 7", "max_requests = 5000", "max_requests_jitter = 500",
                 'worker_class = "uvicorn_worker.UvicornWorker"', "preload_app = True", 'accesslog = "-"',
                 "#   workers: 3 for the test", "def post_fork(server, worker):", "engine.dispose(close=False)",
                 "redis_client._reset_client()"):
        assert line in text
    assert "threads =" not in text  # Uvicorn workers do not use it
    assert oct(os.stat(config_path).st_mode & 0o777) == "0o640"

    again = apply_role(settings)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]
    assert restart_and_count_workers(gateway) == 3


def test_check_mode_shows_the_change_and_writes_nothing(apply_role, config_path):
    before = checksum(config_path)
    completed = apply_role({"gunicorn_workers": 4}, "--check", "--diff")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "+workers = 4" in completed.stdout
    assert checksum(config_path) == before


@pytest.mark.parametrize("settings, message", [
    ({"gunicorn_worker_class": "nope.Worker"}, "worker_class 'nope.Worker' cannot be loaded"),
    ({"gunicorn_workers": -1}, "Gunicorn settings out of range"),
    ({"gunicorn_workers": "four"}, "gunicorn_workers"),
    ({"gunicorn_check_application_memory_mb": -1}, "check_application_memory_mb at least 0"),
], ids=["unknown worker class", "negative workers", "a word for workers", "negative check memory"])
def test_bad_settings_fail_clearly_and_leave_the_file(gateway, apply_role, config_path, settings, message):
    before = checksum(config_path)
    completed = apply_role(settings)
    assert completed.returncode != 0
    assert message in completed.stdout, completed.stdout[-3000:]
    assert checksum(config_path) == before
    assert gateway.request("/ready")[0] == 200


def test_short_of_memory_the_check_leaves_out_the_application_and_says_so(gateway, apply_role, config_path):
    # An application that does not import tells the two checks apart: the whole check refuses it.
    settings = {"gunicorn_workers": 3, "gunicorn_app": "mcpgateway.no_such_module:app"}
    before = checksum(config_path)
    whole = apply_role(dict(settings, gunicorn_check_application_memory_mb=0))
    assert whole.returncode != 0
    assert "the application mcpgateway.no_such_module:app does not import" in whole.stdout, whole.stdout[-3000:]
    assert checksum(config_path) == before

    # 1 TiB is more than this machine has free, as a running gateway on a small VM leaves too little.
    short = apply_role(dict(settings, gunicorn_check_application_memory_mb=1048576))
    assert short.returncode == 0, short.stdout[-3000:]
    assert "left out importing mcpgateway.no_such_module:app" in short.stdout
    assert "the import needs 1048576" in short.stdout
    with open(config_path) as handle:
        assert "workers = 3" in handle.read()


def test_back_to_the_defaults(gateway, apply_role):
    completed = apply_role({})
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert restart_and_count_workers(gateway) == 2
