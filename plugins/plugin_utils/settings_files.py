# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the settings the collection's files hold, to say what a change changes.

Two forms: environment files (NAME=value, the value bare or in single or double quotes, as
systemd's EnvironmentFile= and the gateway's .env reader take them) and Gunicorn's Python
configuration (name = value assignments at the start of a line). Comments and other lines are
skipped: these are the files the collection writes, not general parsers.
"""

from __future__ import annotations

import base64
import re

ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
ASSIGNMENT_LINE = re.compile(r"^([a-z_][a-z0-9_]*)\s*=\s*(.+?)\s*$")


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def env_values(text, names=None):
    """NAME -> value of an environment file's text; only the names asked for, when given."""
    values = {}
    for line in (text or "").splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = ENV_LINE.match(line)
        if match and (names is None or match.group(1) in names):
            values[match.group(1)] = unquote(match.group(2))
    return values


def settings(text):
    """The settings of either form: NAME=value lines and top-level name = value assignments."""
    values = env_values(text)
    for line in (text or "").splitlines():
        match = ASSIGNMENT_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def setting_changes(before_text, after_text):
    """[{name, before, after}] for each setting the two texts give differently (None: absent)."""
    before, after = settings(before_text), settings(after_text)
    return [{"name": name, "before": before.get(name), "after": after.get(name)}
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


def slurped_texts(slurped):
    """{path: text} of a looped ansible.builtin.slurp's registered result (or its list of results):
    the files it read, decoded; a file it skipped (not there) is left out."""
    results = slurped.get("results", []) if isinstance(slurped, dict) else slurped
    return {result["source"]: base64.b64decode(result["content"]).decode("utf-8")
            for result in results or [] if "content" in result and "source" in result}
