# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters mcpgateway.tuning.container_env_file, mcpgateway.tuning.container_definition,
mcpgateway.tuning.container_limits, mcpgateway.tuning.container_listen,
mcpgateway.tuning.container_loopback_servers and mcpgateway.tuning.gunicorn_image_environment."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.containers import (
    container_limits,
    create_command,
    env_file_text,
    listen_environment,
    loopback_servers,
    server_config_copy,
)
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.orchestrators import gunicorn_image_environment
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError


def container_env_file(environment):
    try:
        return env_file_text(environment)
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None


def container_limits_filter(cpus, memory="", cpus_setting="gateway_container_cpus",
                            memory_setting="gateway_container_memory"):
    try:
        return container_limits(cpus, memory, (cpus_setting, memory_setting))
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None


def container_definition(engine, name, image, env_files, host, port, volume, cpus="", memory="", server_config_text="",
                         config_dir="", cpus_setting="gateway_container_cpus", memory_setting="gateway_container_memory",
                         network="bridge"):
    try:
        limits = container_limits(cpus, memory, (cpus_setting, memory_setting))
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None
    if not isinstance(env_files, list) or not all(isinstance(item, dict) and "path" in item and "text" in item
                                                  for item in env_files):
        raise AnsibleFilterError("env_files must be a list of {path, text}, the environment files in the order the "
                                 "engine reads them")
    if server_config_text and not config_dir:
        raise AnsibleFilterError("server_config_text needs config_dir, the folder its copy is kept in")
    server_config = server_config_copy(config_dir, server_config_text) if server_config_text else ""
    try:
        created = create_command(engine, name, image, env_files, host, port, volume, limits, server_config, network)
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None
    return dict(created, limits=limits, server_config=server_config)


def container_listen(network, host, port):
    try:
        return listen_environment(network, host, port)
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None


class FilterModule:
    def filters(self):
        return {"container_env_file": container_env_file, "container_definition": container_definition,
                "container_limits": container_limits_filter, "container_listen": container_listen,
                "container_loopback_servers": loopback_servers, "gunicorn_image_environment": gunicorn_image_environment}
