# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway_facts role on this machine: the install's record read back, the default layout
where there is none, and a record that is not JSON reported and not taken."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

import pytest

SHOW_PLAYBOOK = """\
- name: Read the install's record
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - mcpgateway.tuning.gateway_facts
  tasks:
    - name: Save what the role found
      ansible.builtin.copy:
        content: "{{{{ {{'installed': gateway_facts_installed, 'account': gateway_facts_account,
                       'path': gateway_facts_path}} | to_json }}}}"
        dest: {result}
        mode: "0600"
      check_mode: false
"""

LAYOUT = {
    "version": "", "home": "/opt/mcpgateway", "venv": "/opt/mcpgateway/venv", "config_dir": "/etc/mcpgateway",
    "env_file": "/etc/mcpgateway/mcpgateway.env", "state_dir": "/var/lib/mcpgateway", "service_name": "mcpgateway",
    "service_manager": "systemd", "user": "mcpgateway", "group": "mcpgateway", "container": {},
}


@pytest.fixture
def read_record(ansible_env, tmp_path):
    def read(fact_dir, *options):
        result = tmp_path / "result.json"
        playbook = tmp_path / "show.yml"
        playbook.write_text(SHOW_PLAYBOOK.format(result=result))
        completed = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
             "-e", json.dumps({"mcpgateway_fact_dir": str(fact_dir)}), *options, str(playbook)],
            env=ansible_env, capture_output=True, text=True, timeout=300, check=False)
        assert completed.returncode == 0, completed.stdout[-3000:]
        return json.loads(result.read_text()), completed.stdout

    return read


def test_a_record_is_read_back_over_the_default_layout(read_record, tmp_path):
    fact_dir = tmp_path / "facts.d"
    fact_dir.mkdir()
    record = dict(LAYOUT, version="1.1.0", home="/srv/gw", venv="/srv/gw/venv", service_name="gw-a")
    (fact_dir / "mcpgateway.fact").write_text(json.dumps(record))
    found, dummy = read_record(fact_dir)
    assert found["installed"] == dict(record, recorded=True)
    assert found["path"] == str(fact_dir)
    assert found["account"] == pwd.getpwuid(os.getuid()).pw_name


def test_without_a_record_the_gateway_roles_default_layout_is_assumed(read_record, tmp_path):
    found, dummy = read_record(tmp_path / "absent", "--check")
    assert found["installed"] == dict(LAYOUT, recorded=False)


def test_a_record_that_is_not_json_is_reported_and_not_taken(read_record, tmp_path):
    fact_dir = tmp_path / "facts.d"
    fact_dir.mkdir()
    (fact_dir / "mcpgateway.fact").write_text("venv=/srv/gw/venv\n")
    found, output = read_record(fact_dir)
    assert found["installed"] == dict(LAYOUT, recorded=False)
    assert "is not a JSON object" in output and "mcpgateway.tuning.install" in output
