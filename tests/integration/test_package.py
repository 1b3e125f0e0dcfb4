# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tarball Galaxy gets: what an installed collection can use, and nothing else.

It is built with ansible-galaxy as a release is, installed into a folder, and its unit tests are
run there with ansible-test: the tests it ships run from it. The suite, Molecule, the
integration tests and the measured results need this repository and are left out. The documented
execution environment for Debian is built from it with ansible-builder and Podman, and its modules
probe real servers from inside.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from conftest import PG_DATABASE, PG_MAX_CONNECTIONS, PG_ROLE, PG_ROLE_PASSWORD, REDIS_MAXCLIENTS, REDIS_PASSWORD
from harness.containers import CACHE, DEBIAN_BASE, ContainerError, Podman, copy_host_certificates, debian_base

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
LEFT_OUT = ("benchmarks/", "molecule/", "tools/", "tests/integration/", "tests/harness/", "tests/unit/benchmarks/",
            ".hypothesis/", ".pytest_cache/", "Makefile", "requirements-dev.txt")
EE_TAG = "localhost/mcpgw-test-ee:1"
# A bound over the size the README states for the tarball (about 310 KB on 2026-12-05).
MAX_BYTES = 350 * 1024


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tarball")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(folder),
                    REPO_ROOT], check=True, capture_output=True, timeout=300)
    (path,) = glob.glob(str(folder / "mcpgateway-tuning-*.tar.gz"))
    return path


def test_the_tarball_holds_what_an_installed_collection_uses(tarball):
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert os.path.getsize(tarball) < MAX_BYTES
    for kept in ("plugins/modules/worker_plan.py", "roles/tune/meta/argument_specs.yml", "playbooks/tune.yml",
                 "playbooks/tasks/check_hosts.yml", "meta/runtime.yml", "docs/sizing.md", "tests/unit/plugins"):
        assert any(name == kept or name.startswith(kept + "/") for name in names), kept
    assert [name for name in names if name.startswith(LEFT_OUT) or "__pycache__" in name] == []


def test_its_unit_tests_run_from_the_installed_collection(tarball, tmp_path, ansible_env):
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-p", str(tmp_path), tarball],
                   check=True, capture_output=True, timeout=300)
    installed = tmp_path / "ansible_collections" / "mcpgateway" / "tuning"
    python = "%d.%d" % sys.version_info[:2]
    completed = subprocess.run([os.path.join(BIN, "ansible-test"), "units", "--python", python, "--color", "no"],
                               cwd=str(installed), env=dict(ansible_env, HOME=str(tmp_path)), capture_output=True,
                               text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout


def test_an_execution_environment_gets_the_collections_dependencies(tarball, tmp_path):
    collections = tmp_path / "collections"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-p", str(collections), tarball],
                   check=True, capture_output=True, timeout=300)
    introspected = subprocess.run([os.path.join(BIN, "ansible-builder"), "introspect", str(collections)],
                                  capture_output=True, text=True, timeout=120, check=True).stdout
    for requirement in ("redis>=4.2", "psycopg[binary]>=3.1", "psutil>=5.8", "matplotlib>=3.5",
                        "hey [platform:dpkg]"):
        assert "%s  # from collection mcpgateway.tuning" % requirement in introspected, introspected
    # The documented example is a valid ansible-builder 3 definition: it writes a build context.
    context = tmp_path / "context"
    created = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f",
                              os.path.join(REPO_ROOT, "docs", "execution-environment.yml"), "-c", str(context),
                              "--output-filename", "Containerfile"],
                             cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "quay.io/ansible/awx-ee:24.6.1" in containerfile


def debian_ee_definition(tarball):
    """docs/execution-environment-debian.yml as the test builds it: the Debian image of the tests,
    the tarball in place of Galaxy, which the test machines do not reach, and the host's extra CAs
    for pip, installed after the example's own steps (which install ca-certificates)."""
    with open(os.path.join(REPO_ROOT, "docs", "execution-environment-debian.yml")) as handle:
        definition = yaml.safe_load(handle)
    definition["images"]["base_image"]["name"] = DEBIAN_BASE
    definition["dependencies"]["galaxy"] = {"collections": [
        {"name": "collections/" + os.path.basename(tarball), "type": "file"}]}
    definition["additional_build_files"] = [{"src": tarball, "dest": "collections"},
                                            {"src": "ca-certificates", "dest": "ca-certificates"}]
    definition["additional_build_steps"]["prepend_base"] += [
        "COPY _build/ca-certificates/ /usr/local/share/ca-certificates/", "RUN update-ca-certificates"]
    return definition


@pytest.fixture(scope="module")
def execution_environment(tarball, tmp_path_factory):
    """The documented Debian execution environment, built by ansible-builder with Podman."""
    if os.geteuid() != 0:
        pytest.skip("the Debian base of the execution environment is made with debootstrap, as root")
    try:
        podman = Podman(storage=os.path.join(CACHE, "podman"))
        debian_base(podman, CACHE)
    except ContainerError as reason:
        pytest.skip(str(reason))
    folder = tmp_path_factory.mktemp("ee")
    copy_host_certificates(str(folder / "ca-certificates"))
    (folder / "execution-environment.yml").write_text(yaml.safe_dump(debian_ee_definition(tarball)))
    built = subprocess.run([os.path.join(BIN, "ansible-builder"), "build", "--container-runtime", "podman",
                            "-f", "execution-environment.yml", "-c", "context", "-t", EE_TAG, "-v", "2"],
                           cwd=str(folder), env=podman.env, capture_output=True, text=True, timeout=1800,
                           check=False)
    try:
        assert built.returncode == 0, (built.stdout + built.stderr)[-5000:]
        yield podman
    finally:
        podman.command("image", "rm", "-f", EE_TAG, check=False)
        podman.stop()


def in_execution_environment(podman, *command):
    completed = subprocess.run(["podman", "run", "--rm", "--network", "host", EE_TAG, *command], env=podman.env,
                               capture_output=True, text=True, timeout=300, check=False, cwd=podman.folder)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


def test_the_debian_execution_environment_probes_real_servers(execution_environment, redis_server, postgres_server):
    podman = execution_environment
    # The collection's Python libraries and hey came in through its own requirements and bindep.
    in_execution_environment(podman, "python3", "-c", "import redis, psycopg, psutil, matplotlib")
    assert in_execution_environment(podman, "sh", "-c", "command -v hey").strip() == "/usr/bin/hey"
    modules = in_execution_environment(podman, "ansible-doc", "-l", "mcpgateway.tuning")
    assert "mcpgateway.tuning.worker_plan" in modules
    # The probes run in it, as an AWX job's localhost tasks do, against the servers of the tests.
    probes = (("redis_probe", {"url": redis_server.url(password=REDIS_PASSWORD)}),
              ("postgres_probe", {"url": postgres_server.url(PG_ROLE, PG_ROLE_PASSWORD, PG_DATABASE)}))
    results = {}
    for module, arguments in probes:
        output = in_execution_environment(podman, "ansible", "localhost", "-o", "-m", "mcpgateway.tuning." + module,
                                          "-a", json.dumps(arguments))
        results[module] = json.loads(output.split(" => ", 1)[1])
    assert results["redis_probe"]["reachable"] and results["redis_probe"]["maxclients"] == REDIS_MAXCLIENTS
    assert results["postgres_probe"]["reachable"], results["postgres_probe"]["error"]
    assert results["postgres_probe"]["max_connections"] == PG_MAX_CONNECTIONS
    assert REDIS_PASSWORD not in json.dumps(results) and PG_ROLE_PASSWORD not in json.dumps(results)
