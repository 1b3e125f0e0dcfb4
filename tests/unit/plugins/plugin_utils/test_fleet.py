# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counting the replicas that share a host's servers over the fleet, not over the run."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.fleet import count_replicas

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
