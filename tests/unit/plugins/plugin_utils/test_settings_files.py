# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import base64

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.settings_files import (
    env_values,
    setting_changes,
    slurped_texts,
)

GATEWAY_ENV = """# Ansible managed
HOST='127.0.0.1'
PORT='4444'
DATABASE_URL='postgresql+psycopg://gw:p=ss@db:5432/mcp'
# REDIS_URL='redis://commented-out'
AUTH_REQUIRED='true'
export CACHE_TYPE="redis"
not a setting
"""

GUNICORN_BEFORE = """# Ansible managed
import os
# workers = 3: memory
workers = 2
worker_class = "uvicorn_worker.UvicornWorker"
def post_fork(server, worker):
    timeout = 5
"""


def test_env_values_unquotes_and_skips_comments():
    assert env_values(GATEWAY_ENV) == {
        "HOST": "127.0.0.1", "PORT": "4444", "DATABASE_URL": "postgresql+psycopg://gw:p=ss@db:5432/mcp",
        "AUTH_REQUIRED": "true", "CACHE_TYPE": "redis"}


def test_env_values_keeps_only_the_names_asked_for():
    assert env_values(GATEWAY_ENV, ["PORT", "REDIS_URL"]) == {"PORT": "4444"}
    assert env_values("", ["PORT"]) == {}
    assert env_values(None) == {}


def test_changes_of_an_env_file_name_each_setting():
    before = "GRANIAN_WORKERS=2\nGRANIAN_LOOP=uvloop\nGRANIAN_BACKPRESSURE=512\n"
    after = "# why\nGRANIAN_WORKERS=3\nGRANIAN_LOOP=uvloop\nGRANIAN_HTTP=1\n"
    assert setting_changes(before, after) == [
        {"name": "GRANIAN_BACKPRESSURE", "before": "512", "after": None},
        {"name": "GRANIAN_HTTP", "before": None, "after": "1"},
        {"name": "GRANIAN_WORKERS", "before": "2", "after": "3"},
    ]


def test_changes_of_gunicorn_config_ignore_comments_and_nested_code():
    after = GUNICORN_BEFORE.replace("# workers = 3: memory", "# workers = 4: CPU").replace("workers = 2", "workers = 4")
    assert setting_changes(GUNICORN_BEFORE, after) == [{"name": "workers", "before": "2", "after": "4"}]
    assert setting_changes(GUNICORN_BEFORE, GUNICORN_BEFORE) == []


def test_a_new_file_changes_every_setting():
    assert setting_changes("", "DB_POOL_SIZE=5\n") == [{"name": "DB_POOL_SIZE", "before": None, "after": "5"}]


def test_slurped_texts_by_path_leave_out_skipped_items():
    registered = {"results": [
        {"source": "/etc/gw/tuning.env", "content": base64.b64encode(b"DB_POOL_SIZE=8\n").decode(), "encoding": "base64"},
        {"skipped": True, "item": {"item": "/etc/gw/gunicorn.conf.py"}},
        {"source": "/etc/gw/granian.env", "content": base64.b64encode("GRANIAN_LOOP=uvloop # é\n".encode()).decode()},
    ]}

    assert slurped_texts(registered) == {"/etc/gw/tuning.env": "DB_POOL_SIZE=8\n",
                                         "/etc/gw/granian.env": "GRANIAN_LOOP=uvloop # é\n"}
    assert slurped_texts(registered["results"]) == slurped_texts(registered)
    assert slurped_texts({"results": []}) == {}
