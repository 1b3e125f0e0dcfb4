# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The granian role against the session's real gateway (conftest.py): the file it writes and the
check by the gateway's own Granian. Serving with it is in test_tune_role.py (the switch)."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from conftest import recap

ROLE_PLAYBOOK = """\
- name: Apply the granian role
  hosts: mcpgateway
  gather_facts: false
  roles:
    - role: mcpgateway.tuning.granian
"""


@pytest.fixture(scope="module")
def apply_role(gateway, tmp_path_factory):
    """The role, with Granian installed in the gateway's environment as the tune role does."""
    subprocess.run([os.path.join(gateway.venv, "bin", "pip"), "install", "-q", "granian==2.8.7"], check=True,
                   timeout=600)
    playbook = tmp_path_factory.mktemp("granian-role") / "granian.yml"
    playbook.write_text(ROLE_PLAYBOOK)

    def apply(settings, *options):
        extra_vars = dict(settings)
        return gateway.playbook(*options, capture=True, playbook=str(playbook), extra_vars=extra_vars)

    return apply


@pytest.fixture
def env_path(gateway):
    return os.path.join(gateway.config_dir, "granian.env")


def checksum(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_renders_every_knob_and_granian_accepts_it(apply_role, env_path):
    settings = {"granian_workers": 3, "granian_runtime_mode": "mt", "granian_runtime_threads": 2,
                "granian_http": "1", "granian_loop": "asyncio", "granian_http1_pipeline_flush": True,
                "granian_http1_buffer_size": 65536, "granian_backlog": 4096, "granian_backpressure": 300,
                "granian_respawn_failed_workers": False, "granian_workers_lifetime": 3600,
                "granian_workers_max_rss": 700, "granian_workers_kill_timeout": 30, "granian_access_log": True,
                "granian_reasons": {"workers": "3 for the test"}}
    completed = apply_role(settings)
    assert completed.returncode == 0 and recap(completed)["changed"] >= 1, completed.stdout[-3000:]
    with open(env_path) as handle:
        lines = handle.read().splitlines()
    for line in ("GRANIAN_INTERFACE=asgi", "# 3 for the test", "GRANIAN_WORKERS=3", "GRANIAN_RUNTIME_MODE=mt",
                 "GRANIAN_RUNTIME_THREADS=2", "GRANIAN_BLOCKING_THREADS=1", "GRANIAN_HTTP=1", "GRANIAN_LOOP=asyncio",
                 "GRANIAN_TASK_IMPL=asyncio", "GRANIAN_HTTP1_PIPELINE_FLUSH=true", "GRANIAN_HTTP1_BUFFER_SIZE=65536",
                 "GRANIAN_BACKLOG=4096", "GRANIAN_BACKPRESSURE=300", "GRANIAN_RESPAWN_FAILED_WORKERS=false",
                 "GRANIAN_WORKERS_LIFETIME=3600", "GRANIAN_WORKERS_MAX_RSS=700", "GRANIAN_WORKERS_KILL_TIMEOUT=30",
                 "GRANIAN_LOG_ACCESS_ENABLED=true"):
        assert line in lines
    assert oct(os.stat(env_path).st_mode & 0o777) == "0o640"
    again = apply_role(settings)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-3000:]


def test_check_mode_shows_the_change_and_writes_nothing(apply_role, env_path):
    before = checksum(env_path)
    completed = apply_role({"granian_workers": 4}, "--check", "--diff")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "+GRANIAN_WORKERS=4" in completed.stdout
    assert checksum(env_path) == before


@pytest.mark.parametrize("settings, message", [
    ({"granian_loop": "rloop"}, "GRANIAN_LOOP=rloop: 'rloop' implementation not available"),
    ({"granian_blocking_threads": 4}, "blocking_threads 4 must be 1"),
    ({"granian_workers_lifetime": 30}, "workers_lifetime 30 0 (off) or at least 60"),
    ({"granian_workers": "four"}, "granian_workers"),
    ({"granian_check_application_memory_mb": -1}, "check_application_memory_mb at least 0"),
], ids=["loop not installed", "blocking threads on ASGI", "short lifetime", "a word for workers",
        "negative check memory"])
def test_bad_settings_fail_clearly_and_leave_the_file(gateway, apply_role, env_path, settings, message):
    before = checksum(env_path)
    completed = apply_role(settings)
    assert completed.returncode != 0
    assert message in completed.stdout, completed.stdout[-3000:]
    assert checksum(env_path) == before
    assert gateway.request("/ready")[0] == 200


def test_short_of_memory_the_check_leaves_out_the_application_and_says_so(apply_role, env_path):
    # An application that does not import tells the two checks apart: the whole check refuses it.
    settings = {"granian_workers": 2, "granian_app": "mcpgateway.no_such_module:app"}
    before = checksum(env_path)
    whole = apply_role(dict(settings, granian_check_application_memory_mb=0))
    assert whole.returncode != 0
    assert "the application mcpgateway.no_such_module:app does not import" in whole.stdout, whole.stdout[-3000:]
    assert checksum(env_path) == before

    # 1 TiB is more than this machine has free, as a running gateway on a small VM leaves too little.
    short = apply_role(dict(settings, granian_check_application_memory_mb=1048576))
    assert short.returncode == 0, short.stdout[-3000:]
    assert "left out importing mcpgateway.no_such_module:app" in short.stdout
    assert "the import needs 1048576" in short.stdout
    with open(env_path) as handle:
        assert "GRANIAN_WORKERS=2" in handle.read().splitlines()
