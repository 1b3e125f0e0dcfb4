# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tarball Galaxy gets: what an installed collection can use, and nothing else.

It is built with ansible-galaxy as a release is, installed into a folder, and its unit tests are
run there with ansible-test: the tests it ships run from it. The suite, Molecule, the
integration tests and the measured results need this repository and are left out.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
LEFT_OUT = ("benchmarks/", "molecule/", "tools/", "tests/integration/", "tests/harness/", "tests/unit/benchmarks/",
            ".hypothesis/", ".pytest_cache/", "Makefile", "requirements-dev.txt")
# The size the README states for the tarball.
MAX_BYTES = 300 * 1024


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
