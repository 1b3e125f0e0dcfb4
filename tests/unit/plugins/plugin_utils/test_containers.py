# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containers: the gateway container's limits, environment file and create command."""

from __future__ import annotations

import pytest

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.containers import (
    container_limits,
    create_command,
    env_file_text,
    listen_environment,
    loopback_servers,
    minimum_memory_mib,
    server_config_copy,
    settings_lines,
)
from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.sizing_inputs import PlanError

NO_LIMITS = {"cpus": None, "memory_bytes": None}


def command(**changes):
    arguments = dict(engine="podman", name="gw-next", image="ghcr.io/ibm/mcp-context-forge:1.1.0",
                     env_files=[{"path": "/etc/mcpgateway/mcpgateway.env.next", "text": "CACHE_TYPE=redis\n"},
                                {"path": "/etc/mcpgateway/tuning.env", "text": "# 93 free\nDB_POOL_SIZE=5\n"}],
                     host="127.0.0.1", port=4444, volume="gw-data", limits={"cpus": 1.5, "memory_bytes": 1024 ** 3})
    arguments.update(changes)
    return create_command(**arguments)


def test_limits_read_the_engines_units_and_empty_or_0_is_none():
    assert container_limits("", "") == NO_LIMITS and container_limits("0", 0) == NO_LIMITS
    assert container_limits("1.5", "1g") == {"cpus": 1.5, "memory_bytes": 1024 ** 3}
    assert container_limits(2, "768m") == {"cpus": 2.0, "memory_bytes": 768 * 1024 ** 2}


@pytest.mark.parametrize("cpus, memory, message", [
    ("-1", "", "gateway_container_cpus is '-1', not a number of CPUs such as 1.5"),
    ("two", "", "gateway_container_cpus is 'two', not a number of CPUs"),
    ("", "1q", "gateway_container_memory is '1q', not a memory size such as 1G or 512M"),
    ("", "512m", "gateway_container_memory is '512m' (512 MiB): below the 596 MiB one worker and its master need "
                 "(the planner's 256 MiB base and 340 MiB per worker), the container would be OOM-killed as it starts: "
                 "give at least 596m, or leave it empty for no limit"),
])
def test_bad_limits_name_the_setting_and_the_fix(cpus, memory, message):
    with pytest.raises(PlanError) as raised:
        container_limits(cpus, memory)
    assert str(raised.value).startswith(message)


def test_the_smallest_memory_limit_is_one_worker_and_its_master():
    assert minimum_memory_mib() == 596
    assert container_limits("", "596m")["memory_bytes"] == 596 * 1024 ** 2


def test_the_env_file_is_sorted_unquoted_and_literal():
    assert env_file_text({"PORT": 4444, "AUTH_REQUIRED": True, "DATABASE_URL": "postgresql://u:p@db/mcp?x='1'",
                          "EMPTY": ""}) == (
        "AUTH_REQUIRED=true\nDATABASE_URL=postgresql://u:p@db/mcp?x='1'\nEMPTY=\nPORT=4444\n")


def test_what_an_env_file_cannot_hold_is_named_without_its_value():
    with pytest.raises(PlanError) as raised:
        env_file_text({"JWT_SECRET_KEY": "first-line\nsecond-line"})
    assert str(raised.value) == ("the value of JWT_SECRET_KEY holds a line break or a NUL, which an engine's "
                                 "--env-file cannot carry: give it on one line")
    assert "first-line" not in str(raised.value)
    with pytest.raises(PlanError, match="'1ST' is not an environment variable's name"):
        env_file_text({"1ST": "x"})


def test_the_create_command_publishes_mounts_and_limits():
    created = command()
    assert created["argv"] == [
        "podman", "create", "--name", "gw-next", "--label", "io.mcpgateway.tuning.definition=" + created["definition"],
        "--env-file", "/etc/mcpgateway/mcpgateway.env.next", "--env-file", "/etc/mcpgateway/tuning.env",
        "--publish", "127.0.0.1:4444:4444", "--volume", "gw-data:/app/data", "--restart", "always",
        "--cpus", "1.5", "--memory", "1073741824b", "ghcr.io/ibm/mcp-context-forge:1.1.0"]
    assert "--cpus" not in command(limits=NO_LIMITS)["argv"] and "--memory" not in command(limits=NO_LIMITS)["argv"]
    mounted = command(server_config="/etc/mcpgateway/gunicorn.config.0123.py")["argv"]
    assert mounted[mounted.index("--restart") + 2:mounted.index("--cpus")] == [
        "--volume", "/etc/mcpgateway/gunicorn.config.0123.py:/app/gunicorn.config.py:ro"]


def test_the_hosts_network_replaces_the_published_port_and_the_gateway_listens_there_itself():
    shared = command(network="host")["argv"]
    assert "--publish" not in shared and shared[shared.index("--network"):shared.index("--network") + 2] == ["--network", "host"]
    assert command(network="host")["definition"] != command()["definition"]
    # Inside: every address on the image's port behind the engine's bridge; the host's own with its network.
    assert listen_environment("bridge", "127.0.0.71", 8080) == {"HOST": "0.0.0.0", "PORT": "4444"}
    assert listen_environment("host", "127.0.0.71", 8080) == {"HOST": "127.0.0.71", "PORT": "8080"}
    for call in (lambda: listen_environment("macvlan", "127.0.0.1", 4444), lambda: command(network="none")):
        with pytest.raises(PlanError, match="gateway_container_network is '(macvlan|none)': give bridge .* or host"):
            call()


def test_servers_on_the_hosts_loopback_are_named_without_their_urls():
    urls = {"gateway_database_url": "postgresql+psycopg://mcp:s3cret@127.0.0.5:5433/mcp",
            "gateway_redis_url": "redis://:s3cret@localhost:6379/0", "other": "redis://[::1]:6379",
            "remote": "postgresql://mcp:x@db.example.com/mcp", "sqlite": "sqlite:////app/data/mcp.db", "empty": "",
            "bad": "redis://[::1"}
    found = loopback_servers(urls)
    assert found == ["gateway_database_url (127.0.0.5)", "gateway_redis_url (localhost)", "other (::1)"]
    assert "s3cret" not in " ".join(found)


def test_the_definition_changes_with_what_the_container_runs_and_only_with_that():
    definition = command()["definition"]
    # The name and the env file's path are not what runs: a renamed container is the same one.
    assert command(name="gw", env_files=[{"path": "/elsewhere.env", "text": "CACHE_TYPE=redis\n"},
                                         {"path": "/t.env", "text": "DB_POOL_SIZE=5\n"}])["definition"] == definition
    # Nor are the comments, which carry the figures a tune run measured.
    assert command(env_files=[{"path": "/e", "text": "CACHE_TYPE=redis\n"},
                              {"path": "/t", "text": "# 12 free\n\nDB_POOL_SIZE=5\n"}])["definition"] == definition
    for change in ({"env_files": [{"path": "/e", "text": "CACHE_TYPE=database\n"}]},
                   {"env_files": [{"path": "/e", "text": "CACHE_TYPE=redis\n"}, {"path": "/t", "text": "DB_POOL_SIZE=4\n"}]},
                   {"server_config": "/etc/mcpgateway/gunicorn.config.0123.py"}, {"image": "localhost/other:1"}, {"port": 4445},
                   {"host": "0.0.0.0"}, {"volume": "other"}, {"engine": "docker"},
                   {"limits": {"cpus": 1.0, "memory_bytes": 1024 ** 3}}, {"limits": NO_LIMITS}):
        assert command(**change)["definition"] != definition, change


def test_settings_lines_leave_comments_and_blank_lines_out():
    assert settings_lines("# why: 93 free\n\nDB_POOL_SIZE=5\n  # indented\nworkers = 2  # two\n") == [
        "DB_POOL_SIZE=5", "workers = 2  # two"]


def test_each_server_configuration_has_its_own_copy_named_by_its_content():
    first = server_config_copy("/etc/mcpgateway/", "workers = 2\n")
    assert first.startswith("/etc/mcpgateway/gunicorn.config.") and first.endswith(".py")
    assert first == server_config_copy("/etc/mcpgateway", "workers = 2\n")
    assert server_config_copy("/etc/mcpgateway", "workers = 3\n") != first
