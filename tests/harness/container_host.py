# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""This machine as a gateway host whose gateway is a container of the stand-in of upstream's image
(tests/harness/standin), run by harness.containers.Podman or Docker: the collection's playbooks
against it, and what its engine says of the container."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from harness.containers import standin_podman
from harness.local_gateway import ansible_environment
from harness.throwaway import LOOPBACK, free_port, ready, wait_ready


class ContainerHost:
    """The install, tune and other playbooks of the collection against this machine, with the
    gateway as the container name of image, run by engine; its files in folder."""

    def __init__(self, engine, image, folder, name, collections_root):
        self.engine = engine
        self.image = image
        self.folder = folder
        self.name = name
        # The successor the roles create beside the serving container, and the name the serving one
        # has while its successor starts: neither is left once a run ends.
        self.staged_names = [name + "-next", name + "-previous"]
        engine.containers = [name] + self.staged_names
        self.collections_root = collections_root
        self.port = free_port()
        self.url = "http://%s:%d" % (LOOPBACK, self.port)
        self.config_dir = os.path.join(folder, "etc")
        self.fact_dir = os.path.join(folder, "facts.d")
        self.role_vars = {
            "gateway_service_manager": "container", "gateway_container_engine": engine.name,
            "gateway_container_image": image, "gateway_container_name": name,
            "gateway_container_cpus": "1.5", "gateway_container_memory": "1g",
            "gateway_container_engine_environment": dict(
                (variable, engine.env[variable]) for variable in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "DOCKER_HOST")
                if variable in engine.env),
            "gateway_config_dir": self.config_dir, "gateway_env_file": os.path.join(self.config_dir, "mcpgateway.env"),
            "gateway_host": LOOPBACK, "gateway_port": self.port, "gateway_ready_timeout": 120,
            "mcpgateway_fact_dir": self.fact_dir,
            # Two workers fit the 1 GiB (upstream's auto would start 2 x nproc + 1).
            "gateway_extra_env": {"GUNICORN_WORKERS": "2", "RATE_LIMITING_ENABLED": "false",
                                  "MCPGATEWAY_UI_ENABLED": "false"},
        }
        self.inventory = os.path.join(folder, "inventory.yml")
        with open(self.inventory, "w") as handle:
            handle.write("mcpgateway:\n  hosts:\n    local-gateway:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: %s\n" % sys.executable)

    def playbook(self, name, variables, *options):
        path = os.path.join(self.folder, "vars.json")
        with open(path, "w") as handle:
            json.dump(variables, handle)
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", self.inventory,
                   "-e", "@" + path, *options, "mcpgateway.tuning." + name]
        return subprocess.run(command, env=ansible_environment(self.collections_root), capture_output=True, text=True,
                              timeout=900, check=False)

    def install(self, *options, **overrides):
        return self.playbook("install", dict(self.role_vars, **overrides), *options)

    def tune(self, *options, **variables):
        """The tune playbook; it finds the container in the install's record."""
        return self.playbook("tune", dict({"mcpgateway_fact_dir": self.fact_dir}, **variables), *options)

    def record(self):
        with open(os.path.join(self.fact_dir, "mcpgateway.fact")) as handle:
            return json.load(handle)

    def inspect(self):
        return json.loads(self.engine.command("container", "inspect", self.name))[0]

    def environment(self):
        """The container's environment, as its engine created it."""
        return dict(variable.split("=", 1) for variable in self.inspect()["Config"]["Env"])

    def ready(self):
        return ready(self.url)

    def wait_ready(self, timeout):
        return wait_ready(self.url, timeout)

    def kill_main_process(self):
        """SIGKILL of the container's main process: (its PID, the container's state once another main
        process runs, or after 60 s). Its orphaned workers may answer /ready for a moment, so the new
        main process is waited for first."""
        killed = self.inspect()["State"]["Pid"]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.inspect()["State"]["Pid"] in (killed, 0):
            time.sleep(0.5)
        return killed, self.inspect()["State"]


@contextlib.contextmanager
def podman_container_host(folder, name, collections_root):
    """A ContainerHost on Podman with the stand-in image (harness.containers.ContainerError when it
    cannot be had); its containers and their volume are removed at the end, and Podman stopped."""
    podman, image = standin_podman()
    try:
        yield ContainerHost(podman, image, folder, name, collections_root)
    finally:
        podman.remove_containers()
        podman.command("volume", "rm", "-f", name + "-data", check=False)
        podman.stop()
