# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layout the gateway_facts role assumes for a gateway without a record is the one the
gateway role installs by default, and the record the gateway role writes has the same keys."""

from __future__ import annotations

import os

import jinja2
import yaml

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                     "roles")


def load(role, folder):
    with open(os.path.join(ROLES, role, folder, "main.yml")) as handle:
        return yaml.safe_load(handle)


def resolved(variables):
    """The variables with their templates rendered against each other, as Ansible would."""
    values = dict(variables)
    for dummy in range(5):
        values = {name: jinja2.Template(value).render(values) if isinstance(value, str) else value
                  for name, value in values.items()}
    return values


def test_the_assumed_layout_is_the_gateway_roles_default_install():
    gateway = resolved(dict(load("gateway", "defaults"), **load("gateway", "vars")))
    record_template = load("gateway", "vars")["gateway_install_record"]
    # Read back as Ansible reads a template's result: "{}" is a mapping.
    record = {key: yaml.safe_load(jinja2.Template(value).render(gateway)) for key, value in record_template.items()}
    layout = load("gateway_facts", "defaults")["gateway_facts_layout"]
    assert set(layout) == set(record)
    # The version is unknown without a record; every path and name is the gateway role's default.
    assert dict(layout, version=record["version"]) == record
