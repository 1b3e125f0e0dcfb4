# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX project and job template surveys of docs/awx/ match the collection they drive.

Every survey variable must be one the job's playbook reads (the role's argument specs, the
playbook's own variables, or the probe playbook's documented table), and each survey default, as
AWX passes it (integers and floats as numbers, everything else as text), must pass the role's
argument spec check: a survey that sends "true" to a bool or 5 to a float must work, one that
sends a choice the role refuses must not be shipped.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
AWX = os.path.join(ROOT, "docs", "awx")
# Variables the playbooks themselves read, besides their roles'.
PLAYBOOK_VARIABLES = {"mcpgateway_hosts": {"type": "str"}, "mcpgateway_tune_serial": {"type": "int"}}
AS_AWX_SENDS = {"integer": int, "float": float, "text": str, "textarea": str, "password": str, "multiplechoice": str}


def role_options(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def probe_options():
    """The probe playbook's variables, from its documented table (it has no role of its own)."""
    with open(os.path.join(ROOT, "docs", "probe-playbook.md")) as handle:
        names = re.findall(r"^\| `([a-z_]+)`", handle.read(), re.MULTILINE)
    return dict((name, {"type": "raw"}) for name in names)


JOBS = {"probe": probe_options, "tune": lambda: role_options("tune"), "benchmark": lambda: role_options("benchmark")}


def survey(job):
    with open(os.path.join(AWX, "surveys", "%s.json" % job)) as handle:
        return json.load(handle)["spec"]


def spec_of(option):
    """The argument spec entry without its documentation keys, for the validator."""
    return dict((key, value) for key, value in option.items() if key in ("type", "choices", "elements", "default"))


@pytest.mark.parametrize("job", sorted(JOBS))
def test_every_survey_variable_is_read_by_its_job_and_its_default_converts(job):
    options = dict(PLAYBOOK_VARIABLES, **JOBS[job]())
    for question in survey(job):
        variable = question["variable"]
        assert variable in options, "%s survey asks for %s, which the %s job does not read" % (job, variable, job)
        value = AS_AWX_SENDS[question["type"]](question["default"])
        spec = spec_of(options[variable])
        result = ArgumentSpecValidator({variable: spec}).validate({variable: value})
        assert not result.error_messages, (job, variable, result.error_messages)
        if question["type"] == "multiplechoice":
            for choice in question["choices"].split("\n"):
                checked = ArgumentSpecValidator({variable: spec}).validate({variable: choice})
                assert not checked.error_messages, (job, variable, choice, checked.error_messages)


@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_wrapper_imports_the_collections_playbook(job):
    with open(os.path.join(AWX, "project", "%s.yml" % job)) as handle:
        (play,) = yaml.safe_load(handle)
    assert play["ansible.builtin.import_playbook"] == "mcpgateway.tuning.%s" % job
    assert os.path.exists(os.path.join(ROOT, "playbooks", "%s.yml" % job))
