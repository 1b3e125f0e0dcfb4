# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a Gunicorn configuration the way the gateway's own Gunicorn will load it.

Reads the configuration from standard input (so that the service user can check a file only root
may read), takes the service's environment from its environment files and working folder, then
loads the configuration with Gunicorn's loader, loads the worker class, and imports the
application, as a start with preload_app would. Exits 0 when all three work; otherwise prints what
failed and exits 1.

With --no-application the import is left out: it holds about a worker's memory while it runs,
which a host short of memory cannot spare beside the running gateway.

Usage: python gunicorn_check.py [--chdir DIR] [--env-file FILE ...] [--no-application] APP_MODULE < gunicorn.conf.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback


def read_env_file(path):
    """NAME=value lines, values bare or in single or double quotes: the form the collection writes."""
    variables = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            variables[name.strip()] = value
    return variables


def main(argv):
    parser = argparse.ArgumentParser(description="Check a Gunicorn configuration read from standard input.")
    parser.add_argument("--chdir", help="the service's working folder")
    parser.add_argument("--env-file", action="append", default=[], help="an environment file; missing ones are skipped")
    parser.add_argument("--no-application", action="store_true",
                        help="check the configuration and the worker class, without importing the application")
    parser.add_argument("app", help="the application, for example mcpgateway.main:app")
    options = parser.parse_args(argv[1:])
    for path in options.env_file:
        if os.path.exists(path):
            os.environ.update(read_env_file(path))
    if options.chdir:
        os.chdir(options.chdir)
    from gunicorn.app.wsgiapp import WSGIApplication  # pylint: disable=import-outside-toplevel

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as candidate:
        candidate.write(sys.stdin.read())
    try:
        sys.argv = ["gunicorn", "-c", candidate.name, options.app]
        try:
            application = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
        except SystemExit:
            sys.exit("the configuration does not load (above)")
        try:
            worker_class = application.cfg.worker_class
        except Exception as error:  # pylint: disable=broad-except
            sys.exit("worker_class %r cannot be loaded: %s"
                     % (application.cfg.settings["worker_class"].get(), str(error).strip().splitlines()[0]))
        if not options.no_application:
            try:
                application.load()
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc()
                sys.exit("the application %s does not import with this configuration (above)" % options.app)
    finally:
        os.unlink(candidate.name)
    print("configuration loads; worker class %s.%s; application %s %s"
          % (worker_class.__module__, worker_class.__name__, options.app,
             "not imported (--no-application)" if options.no_application else "imports"))


if __name__ == "__main__":
    main(sys.argv)
