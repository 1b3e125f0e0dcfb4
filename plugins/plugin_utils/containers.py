# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's container as the gateway and tune roles create it: its environment files, its
Gunicorn configuration, and the engine's ``create`` command with a digest of the whole definition
kept as a label on the container.

An engine cannot change a container's environment in place, nor (Podman 4.3) its limits durably:
a different definition is a new container. The label lets a later run tell whether the container
it finds is the one it would create, without reading back every option the engines report in
their own ways.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.orchestrators import compose_cpus, compose_memory
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import SERVER_MEMORY_MB, PlanError

DEFINITION_LABEL = "io.mcpgateway.tuning.definition"
# Upstream's image: Gunicorn on 4444 as user 10001 in /app, which owns /app/data.
CONTAINER_PORT = 4444
DATA_DIR = "/app/data"
# The configuration upstream's run-gunicorn.sh passes to Gunicorn with -c; its command line (workers,
# timeout, max requests, preload) wins over the file, which carries the rest.
SERVER_CONFIG = "/app/gunicorn.config.py"
# How the container is reached: its port published by the engine, or the host's network shared.
NETWORKS = ("bridge", "host")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIB = 1024 * 1024


def minimum_memory_mib():
    """What one Gunicorn worker and its master need, by the planner's defaults: a memory limit
    below it is OOM-killed at start."""
    memory = SERVER_MEMORY_MB["gunicorn"]
    return int(memory["base_memory_mb"] + memory["worker_memory_mb"])


def container_limits(cpus, memory, settings=("gateway_container_cpus", "gateway_container_memory")):
    """{"cpus": float or None, "memory_bytes": int or None} from a role's CPU and memory settings
    (the gateway role's by default; settings names them for the messages), where empty or 0 means no
    limit; raises PlanError naming the setting, its value and the fix."""
    limits = {"cpus": None, "memory_bytes": None}
    if str(cpus).strip() not in ("", "0"):
        limits["cpus"] = compose_cpus(settings[0], cpus)
    if str(memory).strip() not in ("", "0"):
        limits["memory_bytes"] = compose_memory(settings[1], memory)
        if limits["memory_bytes"] < minimum_memory_mib() * MIB:
            raise PlanError("%s is %r (%d MiB): below the %d MiB one worker and its master "
                            "need (the planner's %d MiB base and %d MiB per worker), the container would be "
                            "OOM-killed as it starts: give at least %dm, or leave it empty for no limit"
                            % (settings[1], memory, limits["memory_bytes"] // MIB, minimum_memory_mib(),
                               SERVER_MEMORY_MB["gunicorn"]["base_memory_mb"],
                               SERVER_MEMORY_MB["gunicorn"]["worker_memory_mb"], minimum_memory_mib()))
    return limits


def env_file_text(environment):
    """The environment as engines read an --env-file: NAME=value lines taken literally (no quotes,
    no escapes), sorted. A value an env file cannot hold (a line break) or a name that is not a
    variable's raises PlanError naming it, never the value: values hold secrets."""
    lines = []
    for name in sorted(environment):
        value = environment[name]
        value = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if not ENV_NAME.match(str(name)):
            raise PlanError("%r is not an environment variable's name (letters, digits and _, not first a digit): "
                            "fix it in gateway_extra_env" % (name,))
        if "\n" in value or "\r" in value or "\0" in value:
            raise PlanError("the value of %s holds a line break or a NUL, which an engine's --env-file cannot carry: "
                            "give it on one line" % name)
        lines.append("%s=%s" % (name, value))
    return "\n".join(lines) + "\n"


def settings_lines(text):
    """The lines of a file that set something: comments and blank lines dropped. The tune role's
    files comment every number with figures measured at each run; only their settings make a
    different container."""
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def server_config_copy(config_dir, text):
    """Where the container's copy of a Gunicorn configuration lives: named by its content, so that
    each container keeps the file it was created with. An engine binds a file by its inode when it
    starts the container; a rewritten file would reach a serving container at its next restart,
    untested, and the container a rollback puts back would start on its successor's settings."""
    return "%s/gunicorn.config.%s.py" % (config_dir.rstrip("/"), hashlib.sha256(text.encode()).hexdigest()[:16])


def listen_environment(network, host, port):
    """HOST and PORT of the gateway inside its container: with the engine's network (bridge), every
    address of the container on the image's port, the host side being the published port; with the
    host's network, where the gateway is reached, since nothing is published."""
    if network not in NETWORKS:
        raise PlanError("gateway_container_network is %r: give bridge (the port published on gateway_host) or host "
                        "(the container uses the host's network)" % (network,))
    return {"HOST": "0.0.0.0", "PORT": str(CONTAINER_PORT)} if network == "bridge" else {"HOST": host, "PORT": str(port)}


def loopback_servers(urls):
    """The settings of urls ({setting: URL}) whose server is on a loopback address (127.0.0.0/8, ::1,
    localhost), each as "setting (address)": a container behind the engine's bridge cannot reach them.
    Never the URL itself, which may hold a password. URLs without a host (SQLite) are left out."""
    found = []
    for setting in sorted(urls):
        try:
            address = urlsplit(str(urls[setting] or "")).hostname
        except ValueError:
            continue
        if address and (address == "localhost" or address == "::1" or address.startswith("127.")):
            found.append("%s (%s)" % (setting, address))
    return found


def create_command(engine, name, image, env_files, host, port, volume, limits, server_config="", network="bridge"):
    """{"argv": the engine's create command, "definition": its digest}. env_files: [{"path", "text"}],
    in the order the engine reads them (a later file wins). server_config: the host path of a
    Gunicorn configuration mounted read-only where the image reads its own, or empty for the
    image's. network: bridge publishes the image's port on host:port; host shares the host's
    network (the environment's HOST and PORT say where the gateway listens: listen_environment).
    The digest covers everything the container is created with, the settings of the environment
    files included; the files' paths and the container's name are left out, since renaming a
    container or moving a file changes nothing it runs."""
    listen_environment(network, host, port)
    options = (["--publish", "%s:%d:%d" % (host, int(port), CONTAINER_PORT)] if network == "bridge"
               else ["--network", "host"])
    options += ["--volume", "%s:%s" % (volume, DATA_DIR),
                # Brings the container back when its main process dies; Podman's podman-restart.service
                # and Docker's daemon start it again at boot.
                "--restart", "always"]
    if server_config:
        options += ["--volume", "%s:%s:ro" % (server_config, SERVER_CONFIG)]
    if limits["cpus"] is not None:
        options += ["--cpus", "%g" % limits["cpus"]]
    if limits["memory_bytes"] is not None:
        options += ["--memory", "%db" % limits["memory_bytes"]]
    settings = "\n".join("\n".join(settings_lines(env_file["text"])) for env_file in env_files)
    definition = hashlib.sha256(json.dumps({"engine": engine, "image": image, "options": options,
                                            "environment": hashlib.sha256(settings.encode()).hexdigest()},
                                           sort_keys=True).encode()).hexdigest()[:16]
    argv = [engine, "create", "--name", name, "--label", "%s=%s" % (DEFINITION_LABEL, definition)]
    for env_file in env_files:
        argv += ["--env-file", env_file["path"]]
    return {"argv": argv + options + [image], "definition": definition}
