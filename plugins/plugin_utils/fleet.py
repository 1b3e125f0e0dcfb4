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

What a replica outside the run holds is then its own share, not in use by others: held_by_address
counts it from the servers' lists of clients by address, so that a partial run plans as the full
run does.
"""

from __future__ import annotations

import ipaddress


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


def normal_address(text):
    """An address as the servers show it, in one form (an IPv4 address mapped into IPv6 as itself);
    anything that is not an address (a probe's "local" for its unix socket clients) as it is."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def addresses_of(host, hostvars, address_vars, resolve):
    """The addresses host's connections come from: the first of address_vars it sets (a name is
    resolved), else its inventory name resolved. An empty set when it cannot be resolved."""
    own = hostvars.get(host, {})
    name = next((str(own[var]) for var in address_vars if own.get(var) not in (None, "")), host)
    try:
        return set(normal_address(address) for address in resolve(name))
    except (OSError, UnicodeError):
        return set()


def held_by_address(replicas, counted, hostvars, address_vars, by_address, resolve):
    """What the replicas whose connections were not counted on their hosts (outside this run, or not
    answering) hold now, as the server lists its clients by address, with who was counted.

    Their share is reserved already (they are counted as replicas), so what they hold is theirs, not
    in use by others; counted as in use it would be reserved twice and a partial run would plan
    smaller pools than the full run. An address that also belongs to a replica counted on its host
    (two replicas behind one NAT, or on one machine) cannot be told apart and is left out: counted
    as in use, which errs on the safe side. So are the unix socket's clients.

    replicas: the replicas sharing the server. counted: those whose connections were counted on their
    hosts (mcpgateway.tuning.held_connections). by_address: {address: connections} from the probe, or
    None when the probe could not list them. resolve(name) -> addresses.
    Returns {"connections": n, "hosts": {host: [addresses]}, "notes": [...]}.
    """
    found = {"connections": 0, "hosts": {}, "notes": []}
    others = [host for host in replicas if host not in counted]
    if not others:
        return found
    if by_address is None:
        found["notes"].append("the server did not list its clients by address, so what %s hold counts as in use"
                              % ", ".join(others))
        return found
    listed = {}
    for address, connections in by_address.items():
        key = normal_address(address)
        listed[key] = listed.get(key, 0) + int(connections)
    taken = set()
    for host in counted:
        taken |= addresses_of(host, hostvars, address_vars, resolve)
    theirs = set()
    for host in others:
        addresses = addresses_of(host, hostvars, address_vars, resolve)
        shared = sorted(addresses & taken)
        if not addresses:
            found["notes"].append("%s: its address cannot be resolved, so what it holds counts as in use" % host)
        elif shared:
            found["notes"].append("%s: its address %s is also a host's of this run, so what it holds counts as in use"
                                  % (host, ", ".join(shared)))
        else:
            found["hosts"][host] = sorted(addresses)
            theirs |= addresses
    found["connections"] = sum(listed.get(address, 0) for address in theirs)
    return found
