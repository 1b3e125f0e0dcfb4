# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real servers and a real Ansible for the integration tests.

Modules run through the ``ansible`` command against localhost, from this checkout linked
into a temporary collections folder, with this Python as the target interpreter (it has
redis-py and psycopg installed by ``make``).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# tests/, where the harness package lives (throwaway servers, cgroups, the local gateway).
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))


def _link_collection():
    """This checkout as ansible_collections/mcpgateway/tuning in a temporary folder, so that
    Ansible loads it and the tests can import its module_utils directly."""
    root = tempfile.mkdtemp(prefix="mcpgw-collections-")
    atexit.register(shutil.rmtree, root, True)
    namespace = os.path.join(root, "ansible_collections", "mcpgateway")
    os.makedirs(namespace)
    os.symlink(REPO_ROOT, os.path.join(namespace, "tuning"))
    sys.path.insert(0, root)
    return root


COLLECTIONS_ROOT = _link_collection()

from harness.local_gateway import GatewayError, LocalGateway, find_gateway_python  # noqa: E402 pylint: disable=wrong-import-position
from harness.throwaway import Certificates, PgBouncerServer, PostgresServer, RedisServer, SilentPort  # noqa: E402 pylint: disable=wrong-import-position

REDIS_PASSWORD = "redis-requirepass-7Gq2"
REDIS_ACL_USER = "gateway"
REDIS_ACL_PASSWORD = "acl-pass-Zr81x"
REDIS_MAXCLIENTS = 97
REDIS_MAXMEMORY = 64 * 1024 * 1024

PG_MAX_CONNECTIONS = 24
PG_SUPERUSER_RESERVED = 4
PG_ROLE = "gateway"
PG_ROLE_PASSWORD = "pg-pass-Kd93q"
PG_ROLE_LIMIT = 7
PG_DATABASE = "mcp"
PG_DATABASE_LIMIT = 10


# The files that run longest (minutes each on the 2-vCPU test machine), longest first. make
# integration runs whole files on two workers (loadfile) without xdist's reordering by test count,
# which queued these last, as most of them hold one to four tests: the run then ends with one worker
# alone on a file of several minutes. The other files follow in the order pytest collects them.
LONGEST_FILES = ("test_tune_role.py", "test_gateway_supervisord.py", "test_benchmark_role.py", "test_demo.py",
                 "test_rolling_tune.py", "test_package.py", "test_gateway_container.py", "test_tune_container.py",
                 "test_awx_jobs.py")


def pytest_collection_modifyitems(items):
    """The files of LONGEST_FILES first, in that order; a stable sort keeps each file's tests in order."""
    rank = dict((name, index) for index, name in enumerate(LONGEST_FILES))
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.path)), len(LONGEST_FILES)))


def pytest_runtest_makereport(item, call):
    """In CI every prerequisite is installed by make: a skipped test there is a failure."""
    del item
    if os.environ.get("CI") and call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        raise AssertionError("test skipped in CI: %s" % call.excinfo.value)


@pytest.fixture(scope="session")
def ansible_env():
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
    )
    return env


class ModuleRun:
    def __init__(self, rc, result, elapsed, output):
        self.rc = rc
        self.result = result
        self.elapsed = elapsed
        self.output = output

    @property
    def failed(self):
        return bool(self.result.get("failed")) and self.rc != 0


# One task runs the module and registers its result whatever happens; the next saves that
# result as JSON (also in check mode); the last fails the play when the module failed.
MODULE_PLAYBOOK = """\
- name: Run one module
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the module
      mcpgateway.tuning.{name}: {args}
      register: module_result
      ignore_errors: true
    - name: Save the result
      ansible.builtin.copy:
        content: "{{{{ module_result | to_json }}}}"
        dest: {result_path}
        mode: "0600"
      check_mode: false
      no_log: true
    - name: Fail as the module did
      ansible.builtin.fail:
        msg: "{{{{ module_result.msg }}}}"
      when: module_result is failed
"""


@pytest.fixture
def run_module(ansible_env, tmp_path):
    """Run one module on localhost through ansible-playbook; return its result, rc, wall time and output."""

    def run(name, args=None, check=False, verbosity=0, interpreter=None, wrap=None):
        stamp = time.monotonic_ns()
        result_path = tmp_path / ("result-%d.json" % stamp)
        playbook = tmp_path / ("run-%d.yml" % stamp)
        playbook.write_text(MODULE_PLAYBOOK.format(name=name, args=json.dumps(args or {}),
                                                   result_path=json.dumps(str(result_path))))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                   str(playbook)]
        if interpreter:
            command += ["-e", "ansible_python_interpreter=%s" % interpreter]
        if check:
            command.append("--check")
        if verbosity:
            command.append("-" + "v" * verbosity)
        if wrap:
            command = wrap(command)
        started = time.monotonic()
        completed = subprocess.run(command, env=ansible_env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        assert result_path.exists(), "ansible produced no result:\n%s\n%s" % (completed.stdout, completed.stderr)
        return ModuleRun(completed.returncode, json.loads(result_path.read_text()), elapsed,
                         completed.stdout + completed.stderr)

    return run


@pytest.fixture
def run_cases(ansible_env, tmp_path):
    """Run modules as the tasks of one playbook on localhost (one Ansible start for many cases), each
    registered whatever happens; return their results in order. Arguments may use the facts of
    setup_tasks, which run first; environment is the play's (as a task's environment: sets it)."""

    def run(all_cases, setup_tasks=(), environment=None):
        result_path = tmp_path / "case-results.json"
        tasks = list(setup_tasks)
        for number, (module, arguments) in enumerate(all_cases):
            tasks.append({"name": "Case %d: %s" % (number, module), "mcpgateway.tuning." + module: arguments,
                          "register": "case_%d" % number, "ignore_errors": True})
        names = ", ".join("case_%d" % number for number in range(len(all_cases)))
        tasks.append({"name": "Save the results", "ansible.builtin.copy": {
            "content": "{{ [%s] | to_json }}" % names, "dest": str(result_path), "mode": "0600"}})
        playbook = tmp_path / "cases.yml"
        # JSON is YAML: the arguments go in exactly as given.
        playbook.write_text(json.dumps([{"name": "Cases", "hosts": "localhost", "connection": "local",
                                         "gather_facts": False, "environment": environment or {},
                                         "tasks": tasks}]))
        completed = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                                    "localhost,", str(playbook)], env=ansible_env, capture_output=True, text=True,
                                   check=False, timeout=900)
        assert result_path.exists(), completed.stdout + completed.stderr
        results = json.loads(result_path.read_text())
        playbook.unlink()
        result_path.unlink()
        return results

    return run


@pytest.fixture
def run_playbook(ansible_env):
    def run(playbook, inventory, extra_vars=None, check=False, limit=None):
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook]
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        if check:
            command.append("--check")
        if limit:
            command += ["--limit", limit]
        return subprocess.run(command, env=ansible_env, capture_output=True, text=True, check=False)

    return run


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return Certificates(str(tmp_path_factory.mktemp("certificates"))).create()


@pytest.fixture(scope="session")
def redis_server(certificates):
    server = RedisServer(
        password=REDIS_PASSWORD,
        acl_users={REDIS_ACL_USER: (REDIS_ACL_PASSWORD, "~* &* +@all")},
        maxclients=REDIS_MAXCLIENTS,
        maxmemory=REDIS_MAXMEMORY,
        certificates=certificates,
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(certificates):
    server = PostgresServer(
        settings={"max_connections": PG_MAX_CONNECTIONS, "superuser_reserved_connections": PG_SUPERUSER_RESERVED},
        certificates=certificates,
    )
    with server:
        server.sql("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT %d"
                   % (PG_ROLE, PG_ROLE_PASSWORD, PG_ROLE_LIMIT))
        server.sql("CREATE ROLE other LOGIN PASSWORD 'other-pass-x1'")
        server.sql("CREATE DATABASE %s OWNER %s CONNECTION LIMIT %d" % (PG_DATABASE, PG_ROLE, PG_DATABASE_LIMIT))
        yield server


PGBOUNCER_MAX_CLIENT_CONN = 50
PGBOUNCER_POOL_SIZE = 5


@pytest.fixture
def pgbouncer_server(postgres_server):
    """Per test: PgBouncer keeps pooled server sessions open, which later tests must not see."""
    baseline = postgres_server.client_sessions()
    server = PgBouncerServer(postgres_server, PG_DATABASE, {PG_ROLE: PG_ROLE_PASSWORD}, admin_user=PG_ROLE,
                             max_client_conn=PGBOUNCER_MAX_CLIENT_CONN, default_pool_size=PGBOUNCER_POOL_SIZE)
    with server:
        yield server
    postgres_server.wait_for_sessions(baseline)


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory):
    """A Python with nothing but the standard library: no redis, psycopg or psutil."""
    folder = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python")


@pytest.fixture(scope="session")
def psycopg2_python(tmp_path_factory):
    """A Python whose only PostgreSQL driver is psycopg2, as on distributions that ship it."""
    folder = tmp_path_factory.mktemp("psycopg2-venv")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin" / "pip"), "install", "-q", "-r",
                    os.path.join(REPO_ROOT, "tests", "integration", "requirements-psycopg2.txt")],
                   check=True, capture_output=True)
    return str(folder / "bin" / "python")


@pytest.fixture
def silent_port():
    with SilentPort() as port:
        yield port.port


def recap(completed):
    """The recap counts of the one host of a playbook run against the session's gateway."""
    match = re.search(r"local-gateway\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                      completed.stdout)
    assert match, completed.stdout[-3000:] + completed.stderr[-3000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(4))}


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    """A real gateway on this machine under supervisord, installed once by the install playbook
    as the account running the tests (SQLite, in-memory cache). supervisord is stopped by its PID
    at the end, and no process of the gateway may remain."""
    try:
        python = find_gateway_python()
    except GatewayError as reason:
        pytest.skip(str(reason))
    local = LocalGateway(str(tmp_path_factory.mktemp("gateway")), COLLECTIONS_ROOT, python=python)
    try:
        local.first_run = local.playbook(capture=True)
        yield local
    finally:
        local.stop()
        left = local.processes_left()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, "processes left after supervisord stopped: %s" % left
