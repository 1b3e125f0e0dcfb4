# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A gateway on this machine, installed by the collection's ``install`` playbook under supervisord.

It runs as the account that runs this code, with everything (virtual environment, configuration,
SQLite database, supervisord's socket and logs) in one folder, on its embedded defaults: SQLite
and the in-memory cache. Used by ``make demo`` and by the integration tests; stopped by the PID
in supervisord's pid file.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import grp
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from harness.throwaway import LOOPBACK, free_port, wait_ready

GATEWAY_PYTHON_NAMES = ("python3.13", "python3.12")


class GatewayError(Exception):
    """The local gateway could not be installed, reached or stopped."""


def python_version(path):
    try:
        completed = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=20, check=False)
    except OSError:
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def find_gateway_python():
    """A Python 3.12 or 3.13 for the gateway: on PATH, in /usr/local/bin, or one pyenv built."""
    candidates = [shutil.which(name) for name in GATEWAY_PYTHON_NAMES]
    candidates += ["/usr/local/bin/%s" % name for name in GATEWAY_PYTHON_NAMES]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.1[23]*", "bin", "python3.1[23]")),
                         reverse=True)
    for candidate in candidates:
        if candidate and os.path.exists(candidate) and python_version(candidate) in ("3.12", "3.13"):
            return candidate
    raise GatewayError("mcp-contextforge-gateway needs Python 3.12 or 3.13 and none was found on PATH, in "
                       "/usr/local/bin or under %s/versions: install one (for example "
                       "'pyenv install 3.12') and run again" % pyenv_root)


def ansible_environment(collections_root):
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root, ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false",
                ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")


def children(parent):
    """PIDs of the processes whose parent is parent."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                # The command name in parentheses may hold spaces: the fields follow the last ")".
                if int(handle.read().rsplit(b")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except OSError:
            continue
    return found


class LocalGateway:
    """One gateway under ``folder``, listening on ``LOOPBACK:port``."""

    def __init__(self, folder, collections_root, port=None, python=None, extra_vars=None):
        self.folder = os.path.abspath(folder)
        self.collections_root = collections_root
        self.port = port or free_port()
        self.python = python or find_gateway_python()
        self.extra_vars = dict(extra_vars or {})
        self.account = pwd.getpwuid(os.getuid()).pw_name
        self.group = grp.getgrgid(os.getgid()).gr_name

    @property
    def venv(self):
        return os.path.join(self.folder, "venv")

    @property
    def config_dir(self):
        return os.path.join(self.folder, "etc")

    @property
    def state_dir(self):
        return os.path.join(self.folder, "state")

    @property
    def env_file(self):
        return os.path.join(self.config_dir, "mcpgateway.env")

    @property
    def fact_dir(self):
        """The gateway role records the install here (the mcpgateway local fact), where the other
        roles read it: one folder per gateway, as several run on this host."""
        return os.path.join(self.folder, "facts.d")

    @property
    def supervisord_pid_file(self):
        return os.path.join(self.state_dir, "supervisor", "supervisord.pid")

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    def role_vars(self):
        variables = {
            "gateway_service_manager": "supervisord",
            "gateway_user": self.account,
            "gateway_group": self.group,
            "gateway_manage_user": False,
            "gateway_python": self.python,
            "gateway_home": self.folder,
            "gateway_venv": self.venv,
            "gateway_config_dir": self.config_dir,
            "gateway_env_file": self.env_file,
            "gateway_state_dir": self.state_dir,
            "gateway_host": LOOPBACK,
            "gateway_port": self.port,
            "gateway_database_url": "sqlite:///%s/mcp.db" % self.state_dir,
            "gateway_cache_type": "memory",
            "mcpgateway_fact_dir": self.fact_dir,
        }
        variables.update(self.extra_vars)
        return variables

    def write_inventory(self):
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, "inventory.yml")
        with open(path, "w") as handle:
            handle.write("mcpgateway:\n  hosts:\n    local-gateway:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: %s\n" % sys.executable)
        vars_path = os.path.join(self.folder, "gateway-vars.json")
        with open(vars_path, "w") as handle:
            json.dump(self.role_vars(), handle, indent=2)
        return path, vars_path

    def playbook(self, *options, capture=False, playbook="mcpgateway.tuning.install", extra_vars=None):
        """Run a playbook (mcpgateway.tuning.install by default) against this gateway, with the role
        variables of this gateway and extra_vars; returns the CompletedProcess."""
        inventory, vars_path = self.write_inventory()
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                   "-e", "@" + vars_path]
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        command += [*options, playbook]
        return subprocess.run(command, env=ansible_environment(self.collections_root), check=False,
                              capture_output=capture, text=True, timeout=1800)

    def request(self, path, body=None, token=None, timeout=10):
        """(status, parsed JSON body) of one request to the gateway."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def token(self, minutes=10):
        """A JWT minted by the gateway's own tool with the service's environment (it reads .env)."""
        completed = subprocess.run(
            [os.path.join(self.venv, "bin", "python"), "-m", "mcpgateway.utils.create_jwt_token",
             "--username", "admin@example.com", "--admin", "--exp", str(minutes)],
            cwd=self.state_dir, capture_output=True, text=True, timeout=60, check=False)
        if completed.returncode != 0:
            raise GatewayError("create_jwt_token failed: %s" % completed.stderr[-500:])
        return completed.stdout.strip()

    def supervisorctl(self, *arguments, check=False):
        return subprocess.run([os.path.join(self.venv, "bin", "supervisorctl"), "-c",
                               os.path.join(self.config_dir, "supervisord.conf"), *arguments],
                              capture_output=True, text=True, timeout=120, check=check)

    def program_pid(self):
        """The program supervisord runs: the role's start helper, parent of the server's master."""
        return int(self.supervisorctl("pid", "mcpgateway").stdout.strip())

    def server_master(self):
        """The server's master process, the start helper's only child."""
        (master,) = children(self.program_pid())
        return master

    def wait_ready(self, timeout=120):
        """Whether /ready answers 200 within timeout seconds."""
        return wait_ready(self.url, timeout, request_timeout=3)

    def supervisord_pid(self):
        try:
            with open(self.supervisord_pid_file) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def stop(self, timeout=90):
        """Stop supervisord by its PID; it stops the gateway's process group first."""
        pid = self.supervisord_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        raise GatewayError("supervisord (PID %d) still runs %d s after SIGTERM" % (pid, timeout))

    def processes_left(self):
        """PIDs of processes still running from this gateway's virtual environment."""
        left = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.venv + "/" in command:
                left.append(int(entry))
        return left
