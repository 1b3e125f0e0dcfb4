# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's rules for its secrets, checked before a value reaches a host.

The gateway refuses to start when JWT_SECRET_KEY or AUTH_ENCRYPTION_SECRET is shorter than 32
characters, has a Shannon entropy below 3.5 bits per character, or is a known weak value, and
when an admin or default-user password is shorter than 12 characters or a default. A play that
finds this out only after restarting the service has already broken a serving host.
"""

from __future__ import annotations

import math

MIN_KEY_LENGTH = 32
MIN_KEY_ENTROPY = 3.5
MIN_PASSWORD_LENGTH = 12
# Values the gateway (or its documentation) ships as examples; see reference/upstream.md §1.6.
WEAK_VALUES = frozenset(value.lower() for value in (
    "changeme", "change-me", "secret", "password", "admin", "my-test-key", "my-test-salt",
    "my-test-key-but-now-longer-than-32-bytes", "your-secret-key", "your-secret-key-here",
))


def shannon_entropy(text):
    """Bits of entropy per character of the text's own character distribution."""
    if not text:
        return 0.0
    counts = {}
    for character in text:
        counts[character] = counts.get(character, 0) + 1
    size = float(len(text))
    return sum(count / size * math.log(size / count, 2) for count in counts.values())


def secret_problem(value, kind="key"):
    """What is wrong with a secret, or '' when the gateway will accept it.

    kind: 'key' for JWT_SECRET_KEY and AUTH_ENCRYPTION_SECRET, 'password' for passwords.
    """
    if not isinstance(value, str):
        return "must be a string"
    lowered = value.strip().lower()
    if lowered in WEAK_VALUES or lowered.startswith("__replace_me"):
        return "is a well-known example value"
    if "'" in value or "\n" in value or "\r" in value:
        return "contains a quote or a line break, which the environment file cannot carry"
    if kind == "password":
        if len(value) < MIN_PASSWORD_LENGTH:
            return "is %d characters long; the gateway needs at least %d" % (len(value), MIN_PASSWORD_LENGTH)
        return ""
    if len(value) < MIN_KEY_LENGTH:
        return "is %d characters long; the gateway needs at least %d" % (len(value), MIN_KEY_LENGTH)
    entropy = shannon_entropy(value)
    if entropy < MIN_KEY_ENTROPY:
        return "has too little entropy (%.2f bits per character; the gateway needs %.1f)" % (
            entropy, MIN_KEY_ENTROPY)
    return ""
