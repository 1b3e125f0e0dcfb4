# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters mcpgateway.tuning.container_env_file and mcpgateway.tuning.container_definition."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.containers import (
    container_limits,
    create_command,
    env_file_text,
)
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError


def container_env_file(environment):
    try:
        return env_file_text(environment)
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None


def container_definition(engine, name, image, env_file, env_text, host, port, volume, cpus="", memory=""):
    try:
        limits = container_limits(cpus, memory)
    except PlanError as problem:
        raise AnsibleFilterError(str(problem)) from None
    return dict(create_command(engine, name, image, env_file, env_text, host, port, volume, limits), limits=limits)


class FilterModule:
    def filters(self):
        return {"container_env_file": container_env_file, "container_definition": container_definition}
