# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which gateway hosts share this host's PostgreSQL and Redis: the replicas a plan divides the
connection budgets among.

A run may hold only part of the fleet (--limit, a rolling fix of one host, an unreachable host):
counting the run's hosts alone would give each the budget of the whole fleet, and under load the
others' pools would exceed max_connections. So the replicas are counted over the fleet, the
inventory group of the gateways, whether or not each host is in this run. A host probed in this
run is compared by what its probes found (shared_by: the servers' endpoints); a host that was not
(outside the run, or unreachable) by its inventory variables (shared_by_inventory: the URLs), and
when those say nothing it is counted: reserving its share costs connections, leaving it out could
exhaust the server.
"""

from __future__ import annotations


def _values(hostvars, host, keys):
    own = hostvars.get(host, {})
    return dict((key, own.get(key)) for key in keys if own.get(key) not in (None, ""))


def count_replicas(host, run_hosts, fleet_hosts, hostvars, shared_by, shared_by_inventory, fleet_name):
    """{'hosts': replicas sharing this host's servers (this host included), 'unprobed': those of them
    counted from the inventory, 'reason': the count and who was counted, 'warnings': [...]}.

    run_hosts: the hosts of this run (ansible_play_hosts_all). fleet_hosts: the fleet's hosts, or
    None when the fleet's group is not in the inventory (then only the run's hosts are counted, and
    the reason says so). shared_by, shared_by_inventory: the names of
    the variables that identify the servers, probed and from the inventory.
    """
    candidates = []
    for candidate in [host] + list(fleet_hosts or []) + list(run_hosts):
        if candidate not in candidates:
            candidates.append(candidate)
    own_probed = _values(hostvars, host, shared_by)
    own_inventory = _values(hostvars, host, shared_by_inventory)
    replicas, unprobed, unknown = [], [], []
    for candidate in candidates:
        probed = _values(hostvars, candidate, shared_by)
        if candidate == host or (own_probed and set(probed) >= set(own_probed)):
            if all(probed[key] == value for key, value in own_probed.items()):
                replicas.append(candidate)
            continue
        inventory = _values(hostvars, candidate, shared_by_inventory)
        compared = [key for key in own_inventory if key in inventory]
        if compared and any(inventory[key] != own_inventory[key] for key in compared):
            continue
        replicas.append(candidate)
        unprobed.append(candidate)
        if not compared:
            unknown.append(candidate)

    source = ("inventory group %s" % fleet_name) if fleet_hosts is not None else "the hosts of this run"
    reason = "%d replica(s) share this host's servers, counted over %s: %s" % (
        len(replicas), source, ", ".join(replicas))
    warnings = []
    if unprobed:
        reason += "; not probed in this run, counted from the inventory: %s" % ", ".join(unprobed)
        absent = [name for name in unprobed if name not in run_hosts]
        failed = [name for name in unprobed if name in run_hosts]
        if failed:
            warnings.append("%s did not answer during planning (unreachable or failed): counted as replicas "
                            "sharing this host's servers, their share stays reserved" % ", ".join(failed))
        if absent:
            warnings.append("%s are not in this run (--limit or a partial inventory): counted as replicas sharing "
                            "this host's servers, from the inventory" % ", ".join(absent))
    if unknown:
        warnings.append("the inventory does not say which servers %s use (%s): counted as sharing them; set "
                        "these variables for them, or replicas" % (", ".join(unknown), ", ".join(shared_by_inventory)))
    if fleet_hosts is None:
        reason += " (no inventory group %s: a partial run undercounts; set the fleet's group, or replicas)" % fleet_name
    return {"hosts": replicas, "unprobed": unprobed, "reason": reason, "warnings": warnings}
