# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import secrets

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.secret_rules import secret_problem, shannon_entropy


def test_generated_keys_and_passwords_pass():
    assert secret_problem(secrets.token_urlsafe(32)) == ""
    assert secret_problem(secrets.token_urlsafe(12), "password") == ""


@pytest.mark.parametrize("value, kind, problem", [
    ("short-key-123", "key", "is 13 characters long; the gateway needs at least 32"),
    ("a" * 40, "key", "has too little entropy (0.00 bits per character; the gateway needs 3.5)"),
    ("abababababababababababababababababab", "key", "has too little entropy (1.00 bits"),
    ("my-test-key-but-now-longer-than-32-bytes", "key", "is a well-known example value"),
    ("__REPLACE_ME_WITH_A_REAL_SECRET__", "key", "is a well-known example value"),
    ("changeme", "password", "is a well-known example value"),
    ("short-pw", "password", "is 8 characters long; the gateway needs at least 12"),
    ("it's-a-long-enough-password", "password", "contains a quote or a line break"),
    (12345, "key", "must be a string"),
])
def test_problems_are_named(value, kind, problem):
    assert secret_problem(value, kind).startswith(problem)


def test_entropy():
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("ab") == 1.0
    assert shannon_entropy("abcd") == 2.0
