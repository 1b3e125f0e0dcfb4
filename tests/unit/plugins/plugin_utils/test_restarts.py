# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""restarts: reload or restart, and the workers of a Gunicorn master read from ps."""

from __future__ import annotations

from ansible_collections.mcpgateway.tuning.plugins.plugin_utils.restarts import apply_method, server_workers

CONFIG = "/etc/mcpgateway/gunicorn.conf.py"
ENV = "/etc/mcpgateway/tuning.env"


def changes(*names):
    return [{"name": name, "before": "1", "after": "2"} for name in names]


def test_only_reloadable_gunicorn_settings_are_reloaded():
    decided = apply_method([CONFIG], CONFIG, "gunicorn", "gunicorn", changes("timeout", "workers"))
    assert decided == {"method": "reload", "reason": "only timeout, workers of gunicorn.conf.py changed: Gunicorn "
                       "re-reads it on SIGHUP, starts workers on it and lets the old ones finish their requests"}


def test_what_gunicorn_reads_only_at_start_is_a_restart():
    assert apply_method([CONFIG], CONFIG, "gunicorn", "gunicorn", changes("backlog", "preload_app", "workers")) == {
        "method": "restart", "reason": "backlog, preload_app change: Gunicorn applies them only when it starts"}
    assert apply_method([CONFIG], CONFIG, "gunicorn", "gunicorn", changes("worker_class"))["reason"] == (
        "worker_class changes: Gunicorn applies it only when it starts")


def test_the_environment_a_server_switch_and_granian_are_restarts():
    assert apply_method([CONFIG, ENV], CONFIG, "gunicorn", "gunicorn", changes("workers")) == {
        "method": "restart", "reason": "tuning.env changed: the gateway reads its environment only when it starts"}
    assert apply_method([CONFIG], CONFIG, "gunicorn", "granian", changes("workers"))["reason"] == (
        "the server changes from granian to gunicorn")
    assert apply_method(["/etc/mcpgateway/granian.env"], CONFIG, "granian", "granian", [])["reason"] == (
        "granian reads its settings only when it starts")


def test_nothing_written_is_nothing_to_do_and_the_operator_can_refuse_reloads():
    assert apply_method([], CONFIG, "gunicorn", "gunicorn", [])["method"] == "none"
    assert apply_method([CONFIG], CONFIG, "gunicorn", "gunicorn", changes("workers"), allow_reload=False) == {
        "method": "restart", "reason": "tune_graceful_reload is false"}


def test_a_stopped_gateway_is_started():
    assert apply_method([CONFIG], CONFIG, "gunicorn", "gunicorn", changes("workers"), running=False) == {
        "method": "restart", "reason": "the gateway is not running: it starts on the new files"}


GUNICORN = "/srv/gw/venv/bin/python3.13 /srv/gw/venv/bin/gunicorn -c /srv/gw/etc/gunicorn.conf.py mcpgateway.main:app"
PS = """\
    1     0 /sbin/init
  100     1 /srv/gw/venv/bin/python /srv/gw/etc/serve.py --supervise --venv /srv/gw/venv mcpgateway.main:app
  101   100 %(g)s
  102   101 %(g)s
  103   101 %(g)s
  104   102 %(g)s
  105   101 /srv/gw/venv/bin/python3.13 -c from multiprocessing.resource_tracker import main;main(7)
  200     1 %(g)s
""" % {"g": GUNICORN}


def test_workers_are_the_masters_forked_children_whether_it_is_the_main_process_or_its_child():
    # Under supervisord the main process is serve.py, which starts the master; under systemd it is
    # the master. A worker's own child (104) and the resource tracker (105) are not workers.
    assert server_workers(PS, 100) == [102, 103]
    assert server_workers(PS, "101") == [102, 103]
    assert server_workers(PS, 200) == []


def test_setproctitle_names_and_no_master_at_all():
    named = "  10 1 gunicorn: master [mcpgateway.main:app]\n  11 10 gunicorn: worker [mcpgateway.main:app]\n"
    assert server_workers(named, 10) == [11]
    assert server_workers(PS, 0) == []
    assert server_workers("", 100) == []
