# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's container as the gateway role creates it: its environment file, and the engine's
``create`` command with a digest of the whole definition kept as a label on the container.

An engine cannot change a container's environment in place, nor (Podman 4.3) its limits durably:
a different definition is a new container. The label lets a later run tell whether the container
it finds is the one it would create, without reading back every option the engines report in
their own ways.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.orchestrators import compose_cpus, compose_memory
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import SERVER_MEMORY_MB, PlanError

DEFINITION_LABEL = "io.mcpgateway.tuning.definition"
# Upstream's image: Gunicorn on 4444 as user 10001 in /app, which owns /app/data.
CONTAINER_PORT = 4444
DATA_DIR = "/app/data"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIB = 1024 * 1024


def minimum_memory_mib():
    """What one Gunicorn worker and its master need, by the planner's defaults: a memory limit
    below it is OOM-killed at start."""
    memory = SERVER_MEMORY_MB["gunicorn"]
    return int(memory["base_memory_mb"] + memory["worker_memory_mb"])


def container_limits(cpus, memory):
    """{"cpus": float or None, "memory_bytes": int or None} from the gateway role's
    gateway_container_cpus and gateway_container_memory, where empty or 0 means no limit; raises
    PlanError naming the setting, its value and the fix."""
    limits = {"cpus": None, "memory_bytes": None}
    if str(cpus).strip() not in ("", "0"):
        limits["cpus"] = compose_cpus("gateway_container_cpus", cpus)
    if str(memory).strip() not in ("", "0"):
        limits["memory_bytes"] = compose_memory("gateway_container_memory", memory)
        if limits["memory_bytes"] < minimum_memory_mib() * MIB:
            raise PlanError("gateway_container_memory is %r (%d MiB): below the %d MiB one worker and its master "
                            "need (the planner's %d MiB base and %d MiB per worker), the container would be "
                            "OOM-killed as it starts: give at least %dm, or leave it empty for no limit"
                            % (memory, limits["memory_bytes"] // MIB, minimum_memory_mib(),
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


def create_command(engine, name, image, env_file, env_text, host, port, volume, limits):
    """{"argv": the engine's create command, "definition": its digest}. The digest covers everything
    the container is created with, the environment's text included and the env file's path and the
    container's name left out: renaming a container or moving the file changes nothing it runs."""
    options = ["--publish", "%s:%d:%d" % (host, int(port), CONTAINER_PORT), "--volume", "%s:%s" % (volume, DATA_DIR),
               # Brings the container back when its main process dies; Podman's podman-restart.service
               # and Docker's daemon start it again at boot.
               "--restart", "always"]
    if limits["cpus"] is not None:
        options += ["--cpus", "%g" % limits["cpus"]]
    if limits["memory_bytes"] is not None:
        options += ["--memory", "%db" % limits["memory_bytes"]]
    definition = hashlib.sha256(json.dumps({"engine": engine, "image": image, "options": options,
                                            "environment": hashlib.sha256(env_text.encode()).hexdigest()},
                                           sort_keys=True).encode()).hexdigest()[:16]
    argv = ([engine, "create", "--name", name, "--label", "%s=%s" % (DEFINITION_LABEL, definition),
             "--env-file", env_file] + options + [image])
    return {"argv": argv, "definition": definition}
