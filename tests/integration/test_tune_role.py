# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tune playbook against the session's real gateway under supervisord (conftest.py): the plan
written and served, one restart (or a graceful reload where Gunicorn re-reads the change), idempotence, check mode, the switch of server both ways, and the
failures: refused before anything changes, or rolled back when the gateway does not come back."""

from __future__ import annotations

import glob
import hashlib
import json
import os

import pytest

from conftest import recap
from harness.local_gateway import children

TUNE = "mcpgateway.tuning.tune"


@pytest.fixture(scope="module")
def tune(gateway):
    """Run the tune playbook with these variables and none that say where the gateway lives (the
    role finds it from the install's record); and at the end, put the gateway back on its starting
    files for the tests that follow."""

    def run(settings=None, *options):
        extra_vars = dict(settings or {})
        return gateway.playbook(*options, capture=True, playbook=TUNE, extra_vars=extra_vars)

    yield run
    os.remove(os.path.join(gateway.config_dir, "tuning.env"))
    gateway.supervisorctl("restart", "mcpgateway", check=True)
    assert gateway.wait_ready()


def tuned_files(gateway):
    return [os.path.join(gateway.config_dir, name) for name in ("tuning.env", "gunicorn.conf.py", "granian.env")]


def checksums(paths):
    sums = {}
    for path in paths:
        if os.path.exists(path):
            with open(path, "rb") as handle:
                sums[path] = hashlib.sha256(handle.read()).hexdigest()
    return sums


def env_settings(path):
    with open(path) as handle:
        return dict(line.split("=", 1) for line in handle.read().splitlines() if line and not line.startswith("#"))


def no_backup_left(gateway):
    return glob.glob(os.path.join(gateway.config_dir, "*~")) == []


def server_command(gateway):
    with open("/proc/%d/cmdline" % gateway.server_master(), "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode()


def test_tunes_serves_with_the_plan_and_a_second_run_changes_nothing(gateway, tune):
    completed = tune()
    assert completed.returncode == 0, completed.stdout[-4000:]
    settings = env_settings(os.path.join(gateway.config_dir, "tuning.env"))
    assert settings["MCPGATEWAY_HTTP_SERVER"] == "gunicorn"
    for name in ("DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_TIMEOUT", "DB_POOL_RECYCLE", "REDIS_MAX_CONNECTIONS",
                 "REDIS_SOCKET_TIMEOUT", "REDIS_HEALTH_CHECK_INTERVAL"):
        assert float(settings[name]) > 0
    with open(os.path.join(gateway.config_dir, "gunicorn.conf.py")) as handle:
        workers = int([line for line in handle if line.startswith("workers = ")][0].split("=")[1])
    # The summary says why, and the gateway runs what was planned.
    assert "why workers=%d: workers = %d:" % (workers, workers) in completed.stdout
    assert "restarted once; /ready answered 200" in completed.stdout
    assert gateway.request("/ready")[0] == 200
    assert len(children(gateway.server_master())) == workers
    assert no_backup_left(gateway)

    master = gateway.server_master()
    again = tune()
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]
    assert "nothing changed, no restart" in again.stdout
    assert gateway.server_master() == master


def test_a_setting_gunicorn_rereads_is_applied_by_a_graceful_reload(gateway, tune):
    # keepalive lives in gunicorn.conf.py only: Gunicorn re-reads it on SIGHUP, in the same master.
    master = gateway.server_master()
    workers_before = children(master)
    completed = tune({"tune_overrides": {"keepalive": 7}})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "changed keepalive: " in completed.stdout and " -> 7" in completed.stdout
    assert "reloaded gracefully (SIGHUP): %d worker%s on the new settings, the old ones gone" % (
        len(workers_before), "" if len(workers_before) == 1 else "s") in completed.stdout
    assert "why a reload: only keepalive of gunicorn.conf.py changed" in completed.stdout
    assert gateway.server_master() == master
    workers_after = children(master)
    assert len(workers_after) == len(workers_before) and set(workers_after).isdisjoint(workers_before)
    assert gateway.request("/ready")[0] == 200
    assert no_backup_left(gateway)
    again = tune({"tune_overrides": {"keepalive": 7}})
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]


def test_check_mode_shows_what_would_change_and_touches_nothing(gateway, tune):
    before = checksums(tuned_files(gateway))
    master = gateway.server_master()
    completed = tune({"tune_profile": "high-concurrency"}, "--check", "--diff")
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "would change:" in completed.stdout
    assert "+# keepalive = 75" in completed.stdout or "+keepalive = 75" in completed.stdout
    with open(os.path.join(gateway.config_dir, "generated-secrets.json")) as handle:
        for secret in json.load(handle).values():
            assert secret not in completed.stdout
    assert checksums(tuned_files(gateway)) == before
    assert gateway.server_master() == master


def test_switches_to_granian_and_back(gateway, tune):
    completed = tune({"tune_http_server": "granian"})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "server: gunicorn -> granian" in completed.stdout
    assert "/bin/granian --host" in server_command(gateway)
    assert gateway.request("/ready")[0] == 200
    again = tune({"tune_http_server": "granian"})
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-4000:]

    back = tune()
    assert back.returncode == 0, back.stdout[-4000:]
    assert "server: granian -> gunicorn" in back.stdout
    assert "/bin/gunicorn -c" in server_command(gateway)
    assert gateway.request("/ready")[0] == 200
    assert no_backup_left(gateway)


@pytest.mark.parametrize("settings, message", [
    ({"tune_overrides": {"worker_class": "nope.Worker"}}, "worker_class 'nope.Worker' cannot be loaded"),
    ({"tune_workers": "four"}, "argument 'tune_workers' is of type str and we were unable to convert to int"),
    ({"tune_workers": -1}, "tune_workers (-1) must be 0 (plan it) or a positive number"),
    ({"tune_profile": "turbo"}, "value of tune_profile must be one of"),
    ({"tune_check_application_memory_mb": -1}, "tune_check_application_memory_mb (-1) at least 0"),
], ids=["unknown worker class", "a word for workers", "negative workers", "unknown profile", "negative check memory"])
def test_bad_input_is_refused_before_anything_changes(gateway, tune, settings, message):
    before = checksums(tuned_files(gateway))
    master = gateway.server_master()
    completed = tune(settings)
    assert completed.returncode != 0
    assert message in completed.stdout, completed.stdout[-4000:]
    assert checksums(tuned_files(gateway)) == before
    assert no_backup_left(gateway)
    assert gateway.server_master() == master
    assert gateway.request("/ready")[0] == 200


def test_a_worker_count_from_a_survey_string_is_taken(gateway, tune):
    # Fewer than the plan's count on any host (the whole CPUs + 1), so that the string changes it.
    completed = tune({"tune_workers": "1"})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "changed workers:" in completed.stdout and " -> 1" in completed.stdout
    assert len(children(gateway.server_master())) == 1


def test_short_of_memory_the_check_leaves_out_the_application_and_the_summary_warns(gateway, tune):
    # 1 TiB is more than this machine has free, as a running gateway on a small VM leaves too little.
    completed = tune({"tune_workers": 4, "tune_check_application_memory_mb": 1048576})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert ("warning: the check of the new gunicorn file left out importing the application" in completed.stdout
            and "the import needs 1048576" in completed.stdout), completed.stdout[-4000:]
    assert len(children(gateway.server_master())) == 4
    assert no_backup_left(gateway)


def test_a_gateway_that_does_not_come_back_is_rolled_back(gateway, tune):
    before = checksums(tuned_files(gateway))
    # An address this machine does not have: the new files are valid, but the server cannot bind.
    completed = tune({"tune_host": "192.0.2.1", "tune_ready_timeout": 20})
    assert completed.returncode != 0
    assert "did not become ready (http://192.0.2.1:%d/ready)" % gateway.port in completed.stdout
    assert "HOST: (unset) -> 192.0.2.1" in completed.stdout
    assert "Its previous files are back and it is ready again" in completed.stdout
    assert "Cannot assign requested address" in completed.stdout
    assert checksums(tuned_files(gateway)) == before
    assert no_backup_left(gateway)
    assert gateway.request("/ready")[0] == 200


TUNE_TWICE = """
- name: Tune twice in one play, the second time with a worker class Gunicorn cannot load
  hosts: "{{ mcpgateway_hosts | default('mcpgateway') }}"
  gather_facts: false
  tasks:
    - name: Tune with 2 workers
      ansible.builtin.include_role:
        name: mcpgateway.tuning.tune
      vars:
        tune_workers: 2
    - name: Tune again, refused by Gunicorn's check before tuning.env is written
      ansible.builtin.include_role:
        name: mcpgateway.tuning.tune
      vars:
        tune_workers: 2
        tune_overrides: {worker_class: nope.Worker}
"""


def test_a_failure_in_a_second_run_in_the_same_play_leaves_the_first_runs_files(gateway, tune, tmp_path):
    # Start from other settings, so that the play's first run writes both files (and registers it).
    assert tune({"tune_workers": 4}).returncode == 0
    playbook = tmp_path / "tune_twice.yml"
    playbook.write_text(TUNE_TWICE)
    completed = gateway.playbook(capture=True, playbook=str(playbook))
    assert completed.returncode != 0
    # The second run wrote nothing: the first run's results, still registered, are not rolled back.
    assert "Nothing changed on" in completed.stdout, completed.stdout[-4000:]
    assert "worker_class 'nope.Worker' cannot be loaded" in completed.stdout
    assert recap(completed)["failed"] == 1
    with open(os.path.join(gateway.config_dir, "gunicorn.conf.py")) as handle:
        assert "workers = 2\n" in handle.read()
    assert no_backup_left(gateway)
    assert gateway.request("/ready")[0] == 200
    assert len(children(gateway.server_master())) == 2
