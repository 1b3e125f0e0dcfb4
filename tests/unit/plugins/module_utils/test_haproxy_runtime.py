# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_runtime over the answers of a real HAProxy 2.6 (Debian 12), recorded on the test machine."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.mcpgateway.tuning.plugins.module_utils import haproxy_runtime

SERVERS_STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state "
    "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr "
    "srv_agent_addr srv_agent_port\n")
# gw-a drained by `set server mcpgateway/gw-a state drain` while its check saw it down (op state 0);
# gw-b running (2); gw-c in forced maintenance (1).
SERVERS_STATE = SERVERS_STATE_HEADER + (
    "3 mcpgateway 1 gw-a 127.0.0.1 0 8 1 1 33 8 2 0 6 0 0 0 - 24491 - 0 0 - - 0\n"
    "3 mcpgateway 2 gw-b 127.0.0.1 2 0 1 1 34 6 3 4 6 0 0 0 - 24492 - 0 0 - - 0\n"
    "3 mcpgateway 3 gw-c 127.0.0.1 0 1 1 1 34 6 3 4 6 0 0 0 - 24493 - 0 0 - - 0\n\n")
STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"
    "gateways,FRONTEND,,,8,9,262124,41,0,0,0,0,0,,,,,OPEN\n"
    "mcpgateway,gw-a,0,0,0,4,,20,0,0,,0,,0,0,0,0,DOWN\n"
    "mcpgateway,gw-b,1,2,4,4,,21,0,0,,0,,0,0,0,0,UP\n"
    "mcpgateway,BACKEND,0,0,4,8,26213,41,0,0,0,0,,0,0,0,0,UP\n\n")


def test_the_administrative_state_comes_from_the_flags_not_from_the_status():
    servers = haproxy_runtime.parse_servers_state(SERVERS_STATE, "mcpgateway")
    assert servers == {"gw-a": {"admin_state": "drain", "running": False},
                       "gw-b": {"admin_state": "ready", "running": True},
                       "gw-c": {"admin_state": "maint", "running": False}}
    stats = haproxy_runtime.parse_stat(STAT)
    # show stat calls the drained gw-a DOWN: only the flags say it is drained.
    assert haproxy_runtime.server_view(servers, stats, "mcpgateway", "gw-a") == {
        "admin_state": "drain", "running": False, "status": "DOWN", "scur": 0, "qcur": 0}
    assert haproxy_runtime.server_view(servers, stats, "mcpgateway", "gw-b")["scur"] == 4


def test_unknown_backends_and_servers_are_named():
    with pytest.raises(haproxy_runtime.HAProxyError, match="HAProxy has no backend nope"):
        haproxy_runtime.parse_servers_state("Can't find backend.\n\n", "nope")
    servers = haproxy_runtime.parse_servers_state(SERVERS_STATE, "mcpgateway")
    with pytest.raises(haproxy_runtime.HAProxyError,
                       match="backend mcpgateway has no server gw-z; its servers are: gw-a, gw-b, gw-c"):
        haproxy_runtime.server_view(servers, {}, "mcpgateway", "gw-z")


@pytest.mark.parametrize("text, message", [
    ("Permission denied\n\n", "show servers state did not answer its table: Permission denied"),
])
def test_answers_that_are_not_the_table_are_refused(text, message):
    with pytest.raises(haproxy_runtime.HAProxyError, match=message):
        haproxy_runtime.parse_servers_state(text, "mcpgateway")


def test_stat_must_be_csv():
    with pytest.raises(haproxy_runtime.HAProxyError, match="show stat did not answer CSV: Unknown command"):
        haproxy_runtime.parse_stat("Unknown command. Please enter one of the following commands only :\n")


def test_a_refused_change_says_why():
    haproxy_runtime.check_answer("\n")
    with pytest.raises(haproxy_runtime.HAProxyError, match="HAProxy refused the change: No such server."):
        haproxy_runtime.check_answer("No such server.\n\n")


@pytest.mark.parametrize("text, address", [
    ("/run/haproxy/admin.sock", (socket.AF_UNIX, "/run/haproxy/admin.sock")),
    ("127.0.0.1:9999", (socket.AF_INET, ("127.0.0.1", 9999))),
    ("[::1]:9999", (socket.AF_INET6, ("::1", 9999))),
])
def test_socket_addresses(text, address):
    assert haproxy_runtime.parse_address(text) == address


@pytest.mark.parametrize("text", ["admin.sock", "lb1", "lb1:99999", ":9999"])
def test_socket_addresses_that_are_neither(text):
    with pytest.raises(haproxy_runtime.HAProxyError, match="is neither a unix socket path nor host:port"):
        haproxy_runtime.parse_address(text)


def test_the_servers_left_in_rotation():
    servers = haproxy_runtime.parse_servers_state(SERVERS_STATE, "mcpgateway")
    # gw-a is drained and gw-c in maintenance: only gw-b takes requests, and it is the last one.
    assert haproxy_runtime.others_running(servers, "gw-a") == ["gw-b"]
    assert haproxy_runtime.others_running(servers, "gw-b") == []
