"""Gunicorn settings, loaded by gunicorn itself, so the seed's plain command holds many streams.

`gunicorn --bind 0.0.0.0:5000 --workers 2 --timeout 120 main:app` keeps working:
flags on the command line override what is set here.
"""

import os
import tempfile

from config import Settings

_settings = Settings.from_env()

# prometheus-client's multiprocess mode: every worker writes its metrics to files in this
# folder, and /metrics sums them. It must be in the environment before a worker imports
# prometheus_client, so it is set here, in the master; a fresh folder per start.
if not _settings.metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-api-metrics-")

bind = f"0.0.0.0:{_settings.port}"
workers = 2
# A stream is mostly waiting on the upstream: gevent workers hold hundreds at once,
# where sync workers hold one each and kill any stream longer than --timeout.
worker_class = "gevent_worker.GeventWorkerWithRealSelect"  # gevent, made cheaper per request: see the module
worker_connections = 2000
timeout = 120
graceful_timeout = 30
keepalive = 5
# The app builds its OpenAI client inside each worker, after gevent has patched sockets.
preload_app = False
# Since gunicorn 25.1 each instance opens a control socket under ~/.gunicorn; two
# instances of one user would clash on it.
control_socket_disable = True
accesslog = None  # the app logs one line per request itself


def child_exit(server, worker):
    """Drop a dead worker's live gauges (open streams) from the metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
