# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counting the replicas that share a host's servers over the fleet, not over the run."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.fleet import count_replicas, held_by_address

DB_A, DB_B, CACHE = "postgresql://db-a/mcp", "postgresql://db-b/mcp", "redis://r/0"
URLS = ["mcpgateway_database_url", "mcpgateway_redis_url"]
ENDPOINTS = ["tune_database_endpoint", "tune_redis_endpoint"]


def inventory(**databases):
    return dict((host, {"mcpgateway_database_url": database, "mcpgateway_redis_url": CACHE} if database else {})
                for host, database in databases.items())


def test_the_run_counts_the_hosts_sharing_database_and_redis():
    hostvars = inventory(gw1=DB_A, gw2=DB_A, gw3=DB_B)
    run = ["gw1", "gw2", "gw3"]

    assert count_replicas("gw1", run, run, hostvars, URLS, URLS, "mcpgateway")["hosts"] == ["gw1", "gw2"]
    counted = count_replicas("gw3", run, run, hostvars, URLS, URLS, "mcpgateway")
    assert counted["hosts"] == ["gw3"] and counted["warnings"] == []
    assert counted["reason"] == "1 replica(s) share this host's servers, counted over inventory group mcpgateway: gw3"


def test_a_limited_run_counts_the_fleet_as_the_full_run_does():
    hostvars = inventory(gw1=DB_A, gw2=DB_A, gw3=DB_A)
    # The tune role compares what its probes found; hosts outside the run have no such facts.
    hostvars["gw1"].update(tune_database_endpoint="postgresql://db-a:5432/mcp", tune_redis_endpoint="redis://r:6379/0")
    full = dict(hostvars)
    for host in ("gw2", "gw3"):
        full[host] = dict(hostvars[host], tune_database_endpoint="postgresql://db-a:5432/mcp",
                          tune_redis_endpoint="redis://r:6379/0")
    fleet = ["gw1", "gw2", "gw3"]

    whole = count_replicas("gw1", fleet, fleet, full, ENDPOINTS, URLS, "mcpgateway")
    limited = count_replicas("gw1", ["gw1"], fleet, hostvars, ENDPOINTS, URLS, "mcpgateway")
    assert whole["hosts"] == limited["hosts"] == fleet
    assert whole["warnings"] == []
    assert limited["unprobed"] == ["gw2", "gw3"]
    assert limited["warnings"] == ["gw2, gw3 are not in this run (--limit or a partial inventory): counted as "
                                   "replicas sharing this host's servers, from the inventory"]


def test_an_unreachable_host_of_the_run_keeps_its_share():
    hostvars = inventory(gw1=DB_A, gw2=DB_A)
    hostvars["gw1"].update(tune_database_endpoint="postgresql://db-a:5432/mcp")
    counted = count_replicas("gw1", ["gw1", "gw2"], ["gw1", "gw2"], hostvars, ENDPOINTS, URLS, "mcpgateway")
    assert counted["hosts"] == ["gw1", "gw2"]
    assert counted["warnings"][0].startswith("gw2 did not answer during planning (unreachable or failed): counted")


def test_a_host_of_another_database_is_left_out_and_one_the_inventory_says_nothing_of_is_counted():
    hostvars = inventory(gw1=DB_A, gw2=DB_B, gw3=None)
    hostvars["gw1"].update(tune_database_endpoint="postgresql://db-a:5432/mcp")
    counted = count_replicas("gw1", ["gw1"], ["gw1", "gw2", "gw3"], hostvars, ENDPOINTS, URLS, "mcpgateway")
    assert counted["hosts"] == ["gw1", "gw3"]
    assert counted["warnings"][-1] == ("the inventory does not say which servers gw3 use (mcpgateway_database_url, "
                                       "mcpgateway_redis_url): counted as sharing them; set these variables for "
                                       "them, or replicas")


def test_without_the_fleet_group_the_run_is_counted_and_the_reason_says_so():
    hostvars = inventory(gw1=DB_A, gw2=DB_A)
    counted = count_replicas("gw1", ["gw1", "gw2"], None, hostvars, URLS, URLS, "gateways")
    assert counted["hosts"] == ["gw1", "gw2"]
    assert counted["reason"].endswith("counted over the hosts of this run: gw1, gw2 (no inventory group gateways: "
                                      "a partial run undercounts; set the fleet's group, or replicas)")


# ------------------------------------------------ what replicas not counted on their hosts hold

ADDRESSES = {"gw1": {"10.0.0.11"}, "gw2": {"10.0.0.12"}, "gw3": {"10.0.0.13", "fd00::13"},
             "gw4.example": {"10.0.0.14"}, "nat": {"10.0.0.1"}}
ADDRESS_VARS = ["mcpgateway_client_address", "ansible_host"]


def resolve(name):
    if name not in ADDRESSES:
        raise OSError("Name or service not known")
    return ADDRESSES[name]


def test_a_partial_run_counts_what_the_replicas_outside_it_hold_by_their_addresses():
    hostvars = {"gw1": {"ansible_host": "gw1"}, "gw2": {"ansible_host": "gw2"},
                "gw3": {"ansible_host": "gw3"}, "gw4": {"ansible_host": "10.0.0.9", "mcpgateway_client_address": "gw4.example"}}
    listed = {"10.0.0.11": 40, "10.0.0.12": 7, "fd00::13": 2, "::ffff:10.0.0.13": 3, "10.0.0.14": 5,
              "10.0.0.99": 20, "local": 1}

    found = held_by_address(["gw1", "gw2", "gw3", "gw4"], ["gw1"], hostvars, ADDRESS_VARS, listed, resolve)

    # gw1's 40 were counted on gw1; 10.0.0.99 and the unix socket are nobody's of the fleet: in use.
    assert found == {"connections": 7 + 2 + 3 + 5, "notes": [],
                     "hosts": {"gw2": ["10.0.0.12"], "gw3": ["10.0.0.13", "fd00::13"], "gw4": ["10.0.0.14"]}}


def test_addresses_that_cannot_be_told_apart_count_as_in_use():
    hostvars = {"gw1": {"ansible_host": "nat"}, "gw2": {"ansible_host": "nat"}, "gw3": {"ansible_host": "gone"}}
    found = held_by_address(["gw1", "gw2", "gw3"], ["gw1"], hostvars, ADDRESS_VARS, {"10.0.0.1": 30}, resolve)

    assert found["connections"] == 0 and found["hosts"] == {}
    assert found["notes"] == [
        "gw2: its address 10.0.0.1 is also a host's of this run, so what it holds counts as in use",
        "gw3: its address cannot be resolved, so what it holds counts as in use"]


def test_nothing_is_counted_by_address_in_a_full_run_or_from_a_server_that_lists_no_addresses():
    hostvars = {"gw1": {"ansible_host": "gw1"}, "gw2": {"ansible_host": "gw2"}}
    full = held_by_address(["gw1", "gw2"], ["gw1", "gw2"], hostvars, ADDRESS_VARS, {"10.0.0.12": 9}, resolve)
    unlisted = held_by_address(["gw1", "gw2"], ["gw1"], hostvars, ADDRESS_VARS, None, resolve)

    assert full == {"connections": 0, "hosts": {}, "notes": []}
    assert unlisted == {"connections": 0, "hosts": {}, "notes": [
        "the server did not list its clients by address, so what gw2 hold counts as in use"]}
