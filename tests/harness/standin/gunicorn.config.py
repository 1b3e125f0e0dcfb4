# The image's own Gunicorn configuration, read at every start; the command line of
# run-gunicorn.sh wins over it. A tuned configuration is bind-mounted over this file.
import os

bind = "%s:%s" % (os.environ.get("HOST", "0.0.0.0"), os.environ.get("PORT", "4444"))
workers = 2
timeout = 600
preload_app = True


def post_fork(server, worker):
    """Forked workers must not share the preloaded parent's database connections."""
    del server, worker
    try:
        from mcpgateway.db import engine
    except ImportError:
        return
    engine.dispose(close=False)
