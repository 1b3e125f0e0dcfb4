# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tune and benchmark jobs run as AWX runs them: ansible-runner with a private data dir holding
the project of docs/awx/project, an inventory whose group has a host outside the job's limit, the
surveys' answers as extra variables in text, --limit and AWX's highest verbosity. The jobs must
succeed, publish their set_stats artifacts in the stats event AWX reads, and no job event, stdout
or artifact may hold a secret of the gateway's environment file or a token minted from it."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from harness.local_gateway import ansible_environment

pytestmark = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")

AWX_DOCS = os.path.join(REPO_ROOT, "docs", "awx")
# The settings of the gateway's environment file that are secrets (the gateway role generates them).
SECRET_SETTINGS = ("JWT_SECRET_KEY", "BASIC_AUTH_PASSWORD", "PLATFORM_ADMIN_PASSWORD", "AUTH_ENCRYPTION_SECRET")
# A JSON Web Token: three base64url parts, the first one a JSON object ("{" is "eyJ").
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
# A small load, so that the job measures within a minute.
SMALL_BENCHMARK = {"benchmark_requests": "100", "benchmark_concurrency": "10", "benchmark_runs": "1"}


def survey_answers(name, **answers):
    """The survey's defaults with these answers, every one as text: what a text survey or an API
    launch with string extra_vars sends."""
    with open(os.path.join(AWX_DOCS, "surveys", name + ".json")) as handle:
        spec = json.load(handle)["spec"]
    values = dict((question["variable"], str(question["default"])) for question in spec)
    values.update(answers)
    assert all(isinstance(value, str) for value in values.values())
    return values


def env_secrets(path):
    with open(path) as handle:
        settings = dict(line.split("=", 1) for line in handle.read().splitlines() if "=" in line and line[0] != "#")
    secrets = [settings[name] for name in SECRET_SETTINGS if settings.get(name)]
    assert len(secrets) >= 2, "the gateway's environment file has fewer secrets than expected: %s" % sorted(settings)
    return secrets


class PrivateDataDir:
    """An ansible-runner private data dir laid out as AWX lays one out for a job."""

    def __init__(self, folder, gateway):
        self.folder = folder
        shutil.copytree(os.path.join(AWX_DOCS, "project"), os.path.join(folder, "project"))
        os.makedirs(os.path.join(folder, "inventory"))
        os.makedirs(os.path.join(folder, "env"))
        # The group has a second replica that no job of this test reaches: --limit leaves it out.
        inventory = {"mcpgateway": {"hosts": {
            "local-gateway": dict(gateway.role_vars(), ansible_connection="local",
                                  ansible_python_interpreter=sys.executable),
            "gateway-elsewhere": {"ansible_host": "192.0.2.10"},
        }}}
        with open(os.path.join(folder, "inventory", "hosts.json"), "w") as handle:
            json.dump(inventory, handle)
        environment = ansible_environment(gateway.collections_root)
        passed = ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_NOCOLOR", "ANSIBLE_LOCALHOST_WARNING")
        with open(os.path.join(folder, "env", "envvars"), "w") as handle:
            json.dump(dict((name, environment[name]) for name in passed), handle)

    def run(self, ident, playbook, extra_vars, limit):
        with open(os.path.join(self.folder, "env", "extravars"), "w") as handle:
            json.dump(extra_vars, handle)
        # AWX's verbosity 3 (Debug) is -vvv.
        completed = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-runner"), "run", self.folder, "-p", playbook,
             "--ident", ident, "--limit", limit, "-v", "-v", "-v"],
            env=dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]),
            capture_output=True, text=True, timeout=900, check=False)
        return Job(os.path.join(self.folder, "artifacts", ident), completed)


class Job:
    def __init__(self, artifacts, completed):
        self.artifacts = artifacts
        self.completed = completed

    def read(self, name):
        with open(os.path.join(self.artifacts, name)) as handle:
            return handle.read()

    def events(self):
        events = []
        for path in glob.glob(os.path.join(self.artifacts, "job_events", "*.json")):
            with open(path) as handle:
                events.append(json.load(handle))
        return sorted(events, key=lambda event: event["counter"])

    def stats(self):
        """The playbook_on_stats event's data: AWX takes the job's artifacts (set_stats) from it."""
        (stats,) = [event["event_data"] for event in self.events() if event["event"] == "playbook_on_stats"]
        return stats

    def everything_written(self):
        """Every file of the job's artifacts (events, stdout, status, command), as text."""
        texts = [self.completed.stdout, self.completed.stderr]
        for root, _dirs, files in os.walk(self.artifacts):
            for name in files:
                with open(os.path.join(root, name), errors="replace") as handle:
                    texts.append(handle.read())
        return "\n".join(texts)

    def assert_successful(self):
        assert self.completed.returncode == 0 and self.read("status") == "successful", (
            self.read("stdout")[-5000:] + self.completed.stderr[-2000:])

    def assert_no_secret(self, secrets):
        written = self.everything_written()
        for secret in secrets:
            assert secret not in written, "a secret of the environment file reached the job's output"
        assert not JWT.search(written), "a token reached the job's output"


@pytest.fixture(scope="module")
def private_data_dir(gateway, tmp_path_factory):
    """The job's folder; at the end, the gateway back on its starting files for the tests that follow."""
    yield PrivateDataDir(str(tmp_path_factory.mktemp("awx-job")), gateway)
    tuning_env = os.path.join(gateway.config_dir, "tuning.env")
    if os.path.exists(tuning_env):
        os.remove(tuning_env)
        gateway.supervisorctl("restart", "mcpgateway", check=True)
        assert gateway.wait_ready()


def test_the_tune_job_takes_text_answers_counts_the_host_outside_its_limit_and_hides_secrets(gateway,
                                                                                             private_data_dir):
    answers = survey_answers("tune", tune_workers="2", tune_concurrency="40")
    # What an operator adds beside the survey: the load of the benchmark job must not meet the rate limiter.
    answers["tune_extra_env"] = {"RATE_LIMITING_ENABLED": "false"}
    # What AWX adds to every job's extra variables.
    answers.update(awx_job_id=4242, tower_job_id=4242, awx_job_template_name="Tune gateways")
    job = private_data_dir.run("tune", "tune.yml", answers, limit="local-gateway")
    job.assert_successful()
    summary = job.stats()["artifact_data"]["mcpgateway_tune"]["local-gateway"]
    assert summary["settings"]["workers"] == 2
    # The group's host outside --limit shares the servers as far as the inventory says: counted, and
    # as the count comes from the inventory of an AWX job, which slicing would cut, the plan warns.
    assert sorted(summary["replica_hosts"]) == ["gateway-elsewhere", "local-gateway"]
    assert summary["replicas_reason"].startswith("replicas = 2:")
    assert any("do not slice the tune job template" in warning for warning in summary["warnings"])
    assert gateway.request("/ready")[0] == 200
    job.assert_no_secret(env_secrets(gateway.env_file))


def test_the_benchmark_job_publishes_its_report_and_hides_the_token(gateway, private_data_dir):
    job = private_data_dir.run("benchmark", "benchmark.yml", survey_answers("benchmark", **SMALL_BENCHMARK),
                               limit="local-gateway")
    job.assert_successful()
    report = job.stats()["artifact_data"]["mcpgateway_benchmark"]["local-gateway"]
    phase = report["phases"]["now"]
    assert phase["requests"] == 100 and phase["status_codes"] == {"200": 100}, phase
    # The role minted a token with the gateway's key and used it: none of it may reach the job's output.
    job.assert_no_secret(env_secrets(gateway.env_file))
