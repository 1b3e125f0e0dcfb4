# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module side shared by the probes: options every probe has, and how a probe ends."""

from __future__ import annotations


def probe_argument_spec():
    return dict(
        samples=dict(type="int", default=10),
        fail_unreachable=dict(type="bool", default=False),
    )


def show_when_credential_free(module, option, has_password):
    """A URL or DSN is no_log because it may hold a password; one that does not is no secret,
    so let it show in results and reports."""
    value = module.params[option]
    if value and not has_password(value):
        module.no_log_values.discard(value)


def exit_with_probe(module, result):
    """Return the probe's data; fail only when asked to and the server was not reachable."""
    if module.params["fail_unreachable"] and not result["reachable"]:
        module.fail_json(msg=result["error"], **result)
    module.exit_json(changed=False, **result)
