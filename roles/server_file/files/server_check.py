# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a candidate server file the way the gateway's own server will read it.

Reads the candidate from standard input (so that the service user can check a file only root may
read), takes the service's environment from its environment files and working folder, then:

- gunicorn: loads the candidate gunicorn.conf.py with Gunicorn's loader, loads the worker class,
  and imports the application, as a start with preload_app would;
- granian: adds the candidate GRANIAN_* settings to that environment and runs Granian's own
  command line up to the point where it would bind the socket: its option parsing checks every
  value's type and range, its server checks the combinations (blocking threads on ASGI, workers
  lifetime, ...), then the event loop is loaded and the application imported.

Exits 0 when all of it works; otherwise prints what failed and exits 1. With --no-application the
import is left out: it holds about a worker's memory while it runs, which a host short of memory
cannot spare beside the running gateway.

Usage: python server_check.py {gunicorn,granian} [--chdir DIR] [--env-file FILE ...] [--no-application] APP < CANDIDATE
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback


def parse_env_lines(lines):
    """NAME=value lines, values bare or in single or double quotes: the form the collection writes."""
    variables = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[name.strip()] = value
    return variables


def check_gunicorn(candidate, app, no_application):
    from gunicorn.app.wsgiapp import WSGIApplication  # pylint: disable=import-outside-toplevel

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(candidate)
    try:
        sys.argv = ["gunicorn", "-c", handle.name, app]
        try:
            application = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
        except SystemExit:
            sys.exit("the configuration does not load (above)")
        try:
            worker_class = application.cfg.worker_class
        except Exception as error:  # pylint: disable=broad-except
            sys.exit("worker_class %r cannot be loaded: %s"
                     % (application.cfg.settings["worker_class"].get(), str(error).strip().splitlines()[0]))
        if not no_application:
            try:
                application.load()
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc()
                sys.exit("the application %s does not import with this configuration (above)" % app)
    finally:
        os.unlink(handle.name)
    print("configuration loads; worker class %s.%s; application %s %s"
          % (worker_class.__module__, worker_class.__name__, app,
             "not imported (--no-application)" if no_application else "imports"))


def check_granian(candidate, app, no_application):
    os.environ.update(parse_env_lines(candidate.splitlines()))
    # pylint: disable=import-outside-toplevel
    import click
    from granian._loops import loops
    from granian.cli import cli
    from granian.errors import ConfigurationError
    from granian.server.common import AbstractServer

    checked = {}

    def load_instead_of_serving(server, _spawn_target, target_loader):
        """Granian's serve() has checked the settings; load what a worker would, and stop there."""
        loop = getattr(server.loop, "value", server.loop)
        try:
            loops.get(loop)
        except RuntimeError as error:
            sys.exit("GRANIAN_LOOP=%s: %s (install it in the gateway's environment, or choose another loop)"
                     % (loop, error))
        if not no_application:
            try:
                target_loader()
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc()
                sys.exit("the application %s does not import with this environment (above)" % app)
        checked.update(workers=server.workers, loop=loop, interface=getattr(server.interface, "value", server.interface),
                       runtime_mode=getattr(server.runtime_mode, "value", server.runtime_mode))

    AbstractServer._serve = load_instead_of_serving  # pylint: disable=protected-access
    arguments = ["--host", os.environ.get("HOST", "127.0.0.1"), "--port", os.environ.get("PORT", "4444"), app]
    try:
        cli.main(args=arguments, prog_name="granian", auto_envvar_prefix="GRANIAN", standalone_mode=False)
    except click.ClickException as error:
        sys.exit("Granian refuses the settings: %s" % error.format_message())
    except ConfigurationError as error:
        sys.exit("Granian refuses the setting %s (its message is above)" % error)
    if not checked:
        sys.exit("Granian stopped before loading the application (its message is above)")
    if checked["interface"] != "asgi":
        sys.exit("GRANIAN_INTERFACE is %s: the gateway is an ASGI application, set asgi" % checked["interface"])
    print("settings accepted by Granian; %(workers)d workers, %(runtime_mode)s runtime, %(loop)s loop; " % checked
          + "application %s (%s)" % ("not imported (--no-application)" if no_application else "imports", app))


CHECKS = {"gunicorn": check_gunicorn, "granian": check_granian}


def main(argv):
    parser = argparse.ArgumentParser(description="Check a server file of the gateway, read from standard input.")
    parser.add_argument("server", choices=sorted(CHECKS), help="the server that reads the file")
    parser.add_argument("--chdir", help="the service's working folder")
    parser.add_argument("--env-file", action="append", default=[], help="an environment file; missing ones are skipped")
    parser.add_argument("--no-application", action="store_true",
                        help="check the file (and the worker class or event loop), without importing the application")
    parser.add_argument("app", help="the application, for example mcpgateway.main:app")
    options = parser.parse_args(argv[1:])
    candidate = sys.stdin.read()
    for path in options.env_file:
        if os.path.exists(path):
            with open(path) as handle:
                os.environ.update(parse_env_lines(handle))
    if options.chdir:
        os.chdir(options.chdir)
    CHECKS[options.server](candidate, options.app, options.no_application)


if __name__ == "__main__":
    main(sys.argv)
