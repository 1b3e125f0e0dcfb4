# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tune and site playbooks on a gateway container of real Podman with the tests' stand-in of
upstream's image. The install playbook runs it with upstream's auto workers (2 x nproc + 1, nproc
counting the host's CPUs) in a 1.5-CPU, 1 GiB container; the tune playbook sizes it from the
container's limits and creates it again with the plan in GUNICORN_* and the tuned gunicorn.conf.py
mounted. A second run and an install run change nothing; the site playbook resizes it to new limits,
which the plan follows, and benchmarks it before and after in interleaved rounds (hey); a tuning that
never gets ready is rolled back to the container that served, on its files. What the auto workers
cost under load, and the tuned container, is measured by the Molecule scenario container."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil

import pytest

from conftest import COLLECTIONS_ROOT, recap
from harness.container_host import podman_container_host
from harness.containers import ContainerError
from harness.throwaway import LOOPBACK, free_port

pytestmark = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (apt-get install hey)")

NAME = "mcpgw-tune-container"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    try:
        with podman_container_host(str(tmp_path_factory.mktemp("tune-container")), NAME, COLLECTIONS_ROOT) as host:
            # Upstream's defaults: no GUNICORN_WORKERS, so the image's script counts the host's CPUs.
            host.role_vars["gateway_extra_env"] = {"RATE_LIMITING_ENABLED": "false", "MCPGATEWAY_UI_ENABLED": "false"}
            installed = host.install()
            assert installed.returncode == 0, installed.stdout[-5000:]
            yield host
    except ContainerError as reason:
        pytest.skip(str(reason))


def summary(host):
    """The tune role's summary of the last run, from the report folder the test gave it."""
    with open(os.path.join(host.folder, "reports", "local-gateway.tune.json")) as handle:
        return json.load(handle)


def tune(host, *options, **variables):
    variables.setdefault("tune_report_dir", os.path.join(host.folder, "reports"))
    variables.setdefault("tune_ready_timeout", 120)
    return host.tune(*options, **variables)


def mounted_config(container):
    return [mount for mount in container["Mounts"] if mount["Destination"] == "/app/gunicorn.config.py"]


def workers_running(host):
    """The Gunicorn workers in the container: the children of its main process (PID 1, the master
    run-gunicorn.sh execs)."""
    processes = host.engine.command("exec", NAME, "ps", "-e", "-ww", "-o", "ppid=,args=")
    return len([line for line in processes.splitlines() if line.split()[0] == "1" and "gunicorn" in line])


def test_check_mode_shows_new_limits_and_changes_nothing(host):
    # First, as an operator's first look: the container has never been tuned, no tuned file exists.
    before = host.inspect()
    completed = tune(host, "--check", "--diff", tune_container_memory="768m")
    assert completed.returncode == 0, completed.stdout[-5000:]
    assert "container limits: 1.5 -> 1.5 CPUs, 1g -> 768m memory (check mode: not applied)" in completed.stdout
    assert host.inspect()["Id"] == before["Id"] and host.record()["container"]["memory"] == "1g"
    assert not os.path.exists(os.path.join(host.config_dir, "gunicorn.conf.py"))


def test_the_tune_playbook_sizes_the_container_from_its_limits(host):
    # What the load costs upstream's auto workers in this container, and the tuned one, is measured on a
    # systemd machine by the Molecule scenario container, with the collection's own benchmark.
    nproc = os.cpu_count()
    auto = host.inspect()
    # The image's contract: 2 x nproc + 1 workers, nproc counting the host's CPUs, not the 1.5 of --cpus.
    assert "auto workers: nproc says %d, starting %d" % (nproc, min(2 * nproc + 1, 16)) in host.engine.logs(NAME)

    completed = tune(host)
    assert completed.returncode == 0, completed.stdout[-6000:]
    report = summary(host)
    assert report["recreated"] is True and report["restarted"] is False
    # The container's limits, named in the engine's terms, not the host's CPUs and memory.
    assert float(report["capacity"]["cpus"]) == 1.5 and int(report["capacity"]["memory_mib"]) == 1024
    assert report["capacity"]["cpu_binding"] == "container CPU limit 1.5 (podman --cpus)"
    assert report["capacity"]["memory_binding"] == "container memory limit 1024 MiB (podman --memory)"
    workers = int(report["settings"]["workers"])
    assert 1 <= workers < min(2 * os.cpu_count() + 1, 16)

    tuned = host.inspect()
    assert tuned["Id"] != auto["Id"] and tuned["State"]["Running"] and host.ready()
    assert tuned["HostConfig"]["NanoCpus"] == 1500000000 and tuned["HostConfig"]["Memory"] == 1024 ** 3
    environment = host.environment()
    # What upstream's run-gunicorn.sh puts on Gunicorn's command line, which wins over its file.
    assert environment["GUNICORN_WORKERS"] == str(workers)
    assert environment["GUNICORN_TIMEOUT"] == str(report["settings"]["timeout"])
    assert environment["GUNICORN_PRELOAD_APP"] == str(report["settings"]["preload_app"]).lower()
    assert environment["DB_POOL_SIZE"] == str(report["settings"]["DB_POOL_SIZE"])
    assert "JWT_SECRET_KEY" in environment and environment["JWT_SECRET_KEY"] not in completed.stdout
    assert workers_running(host) == workers
    # The tuned file, for what only the file carries, as a copy named by its content, read-only.
    [mount] = mounted_config(tuned)
    assert mount["RW"] is False and re.match(r".*/gunicorn\.config\.[0-9a-f]{16}\.py$", mount["Source"])
    with open(mount["Source"]) as copy, open(os.path.join(host.config_dir, "gunicorn.conf.py")) as tuned_file:
        text = copy.read()
        assert text == tuned_file.read()
    assert "keepalive = %d" % int(report["settings"]["keepalive"]) in text
    assert os.stat(mount["Source"]).st_mode & 0o777 == 0o644
    names = host.engine.command("ps", "--all", "--format", "{{.Names}}").split()
    assert not set(host.staged_names) & set(names)

    # Nothing to do the second time, and the install playbook creates the same container.
    again = tune(host)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-5000:]
    installed = host.install()
    assert installed.returncode == 0 and recap(installed)["changed"] == 0, installed.stdout[-5000:]
    assert host.inspect()["Id"] == tuned["Id"]


def test_the_site_playbook_resizes_benchmarks_and_interleaves_the_container(host):
    """The operator's whole flow on the container: the site playbook measures it, tunes it to new limits
    (the plan follows them), measures it again, then measures before and after again (B A), creating it
    again from the snapshot's files and limits for A and from the tuned ones after."""
    first = host.inspect()
    assert first["HostConfig"]["NanoCpus"] == 1500000000 and first["HostConfig"]["Memory"] == 1024 ** 3
    workers_before = host.environment()["GUNICORN_WORKERS"]
    reports = os.path.join(host.folder, "benchmark-reports")
    # The role's path and report, not figures: one run of 100 requests a phase and round.
    completed = host.playbook("site", {
        "mcpgateway_fact_dir": host.fact_dir, "tune_report_dir": os.path.join(host.folder, "reports"),
        "tune_ready_timeout": 120, "tune_container_cpus": "1", "tune_container_memory": "768m",
        "benchmark_report_dir": reports, "benchmark_ready_timeout": 120, "benchmark_runs": 1,
        "benchmark_requests": 100, "benchmark_concurrency": 10, "benchmark_warmup_requests": 30,
        "benchmark_warmup_rounds": 2, "benchmark_interleave": True, "benchmark_interleave_rounds": 2})
    assert completed.returncode == 0, completed.stdout[-6000:]

    # The plan follows the new limits, named in the engine's terms.
    tuned = summary(host)
    assert float(tuned["capacity"]["cpus"]) == 1.0 and int(tuned["capacity"]["memory_mib"]) == 768
    assert tuned["capacity"]["memory_binding"] == "container memory limit 768 MiB (podman --memory)"
    with open(os.path.join(reports, "local-gateway.benchmark.json")) as handle:
        report = json.load(handle)
    # Two rounds of one run each: A B, then B A; the token minted in the container, the watch on its
    # main process and its log file.
    for name in ("before", "after"):
        phase = report["phases"][name]
        assert phase["runs"] == 2 and phase["status_codes"] == {"200": 200} and phase["errors"] == 0
        assert 50 < phase["peak_memory_mib"] < 1024 and phase["oom_kills"] == 0
        assert phase["log_signs"]["refused"] == 0
    assert report["comparison"]["verdict"] in ("better", "no measurable change", "worse")
    workers = str(tuned["settings"]["workers"])
    assert [(change["before"], change["after"]) for change in report["changes"] if change["name"] == "workers"] == \
        ([] if workers == workers_before else [(workers_before, workers)])
    # Created again for round 2's A (the snapshot's files and limits) and once more for the tuned ones.
    assert completed.stdout.count("TASK [mcpgateway.tuning.container_replace : Start the new container]") == 3
    resized = host.inspect()
    assert resized["Id"] != first["Id"] and resized["State"]["Running"] and host.ready()
    assert resized["HostConfig"]["NanoCpus"] == 1000000000 and resized["HostConfig"]["Memory"] == 768 * MIB
    assert host.environment()["GUNICORN_WORKERS"] == workers
    # Recorded: the next tune run keeps them, and changes nothing.
    assert host.record()["container"]["cpus"] == "1" and host.record()["container"]["memory"] == "768m"
    again = tune(host)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-5000:]
    # Only the copy the container mounts is left, and no staged container.
    assert glob.glob(os.path.join(host.config_dir, "gunicorn.config.*.py")) == [mounted_config(resized)[0]["Source"]]
    names = host.engine.command("ps", "--all", "--format", "{{.Names}}").split()
    assert not set(host.staged_names) & set(names)


def test_bad_limits_are_refused_before_anything_changes(host):
    before = host.inspect()
    completed = tune(host, tune_container_memory="256m")
    assert completed.returncode != 0
    assert "tune_container_memory is '256m' (256 MiB): below the 596 MiB one worker and its master need" \
        in completed.stdout, completed.stdout[-5000:]
    assert host.inspect()["Id"] == before["Id"] and host.ready()


def test_a_tuning_that_never_gets_ready_is_rolled_back(host):
    before = host.inspect()
    tuning_env = os.path.join(host.config_dir, "tuning.env")
    with open(tuning_env) as handle:
        tuning_before = handle.read()
    copies_before = sorted(glob.glob(os.path.join(host.config_dir, "gunicorn.config.*.py")))
    # A database nothing listens on: the new container starts and never answers /ready.
    completed = tune(host, tune_ready_timeout=12, tune_overrides={"keepalive": 7},
                     tune_extra_env={"DATABASE_URL": "postgresql+psycopg://mcp:x@%s:%d/mcp" % (LOOPBACK, free_port())})
    assert completed.returncode != 0
    assert "did not become ready" in completed.stdout and "Its previous container is back" in completed.stdout, \
        completed.stdout[-6000:]
    after = host.inspect()
    assert after["Id"] == before["Id"] and after["Name"] == NAME and after["State"]["Running"] and host.ready()
    with open(tuning_env) as handle:
        assert handle.read() == tuning_before
    assert sorted(glob.glob(os.path.join(host.config_dir, "gunicorn.config.*.py"))) == copies_before
    names = host.engine.command("ps", "--all", "--format", "{{.Names}}").split()
    assert not set(host.staged_names) & set(names)
