# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module side shared by the probes: options every probe has, the deadline of a whole probe,
and how a probe ends."""

from __future__ import annotations

import threading

from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, fail_outside_ranges

PROBE_RANGES = {"samples": (1, 10000, ""), "deadline": (1, HOUR, "seconds")}


def probe_argument_spec():
    return dict(
        samples=dict(type="int", default=10),
        deadline=dict(type="float", default=30),
        fail_unreachable=dict(type="bool", default=False),
    )


class ProbeDeadlineExceeded(Exception):
    """The probe did not finish within its deadline."""


def within_deadline(call, deadline):
    """call() in a thread of its own, waited for at most deadline seconds. A server that accepts the
    connection and then answers nothing, or a byte at a time, defeats the per-read timeouts of the
    drivers; the thread is a daemon, so a call still stuck in the driver ends with the module's
    process. Raises ProbeDeadlineExceeded, or what call raised."""
    outcome = {}

    def run():
        # Anything the call raises is raised again in the caller's thread.
        try:
            outcome["value"] = call()
        except BaseException as error:  # pylint: disable=broad-exception-caught
            outcome["error"] = error

    worker = threading.Thread(target=run, name="probe", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        raise ProbeDeadlineExceeded()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def stalled(result, phase, deadline):
    """The probe's result when the deadline passed: unreachable, with the phase that stalled."""
    result.update(reachable=False, stalled_phase=phase, error=(
        "%s did not finish answering the probe within its deadline of %g s: it stalled while %s. The server "
        "accepted the connection and then answered too slowly or not at all (overloaded, paused, or not the server "
        "you meant); check it and the network between, or raise deadline" % (result["endpoint"], deadline, phase)))
    return result


def probe_within_deadline(module, probe, unreachable, option_error):
    """probe(progress) under the module's deadline option, for both probe modules. An option the
    probe refuses (option_error) fails the module; past the deadline the result is unreachable()
    marked stalled, with the phase the probe last wrote into progress."""
    fail_outside_ranges(module, PROBE_RANGES)
    deadline = module.params["deadline"]
    progress = {"phase": "starting"}
    try:
        return within_deadline(lambda: probe(progress), deadline)
    except option_error as error:
        module.fail_json(msg=str(error))
    except ProbeDeadlineExceeded:
        return stalled(unreachable(), progress["phase"], deadline)


def show_when_credential_free(module, option, has_password):
    """A URL or DSN is no_log because it may hold a password; one that does not is no secret,
    so let it show in results and reports."""
    value = module.params[option]
    if value and not has_password(value):
        module.no_log_values.discard(value)


def exit_with_probe(module, result):
    """Return the probe's data; fail only when asked to and the server could not be reached or its
    figures could not be read (a user without the permission to read them)."""
    if module.params["fail_unreachable"] and (not result["reachable"] or result["error"]):
        module.fail_json(msg=result["error"], **result)
    module.exit_json(changed=False, **result)
