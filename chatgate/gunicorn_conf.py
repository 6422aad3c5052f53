"""Gunicorn settings, so the plain command holds many streams: `chatgate serve` loads them as
`python:chatgate.gunicorn_conf`, and the checkout's gunicorn.conf.py hands them on, so that
`gunicorn --bind 0.0.0.0:5000 --workers 2 --timeout 120 main:app` keeps working there:
flags on the command line override what is set here.
"""

import json
import os
import sys
import tempfile

from gunicorn import glogging

from chatgate.config import ConfigError, Settings


def _checked(settings: Settings) -> list[str]:
    """What only the app's own modules can check (the catalogue's default model, the tokens in storage), done in
    a child process, so that the master never holds those modules (about 10 MB in it, and in every process of a
    server that forks from it): the warnings to say, or a ConfigError."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: check, say what it found through the pipe, and leave without cleaning up
        code = 0
        try:
            from chatgate.models import check_catalogue
            from chatgate.storage import open_storage, token_counts

            check_catalogue(settings)
            storage = open_storage(settings)
            found = {"warnings": settings.warnings(token_counts(storage))}
            storage.close()
        except ConfigError as error:
            found, code = {"error": str(error)}, 1
        with os.fdopen(writing, "w") as pipe:
            json.dump(found, pipe)
        os._exit(code)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        found = json.loads(pipe.read() or '{"error": "the start-up checks failed"}')
    os.waitpid(child, 0)
    if "error" in found:
        raise ConfigError(found["error"])
    return found["warnings"]


try:
    _settings = Settings.from_env()
    _warnings = _checked(_settings)
except ConfigError as error:  # one line that names the variable, not a traceback per worker
    sys.exit(f"Configuration error: {error}")

# Said once, here in the master; the workers see the mark and stay quiet.
for _warning in _warnings:
    _line = (
        json.dumps({"level": "WARNING", "message": _warning})
        if _settings.log_format == "json"
        else f"warning: {_warning}"
    )
    print(_line, file=sys.stderr, flush=True)
os.environ["CHAT_API_WARNED"] = "1"

# prometheus-client's multiprocess mode: every worker writes its metrics to files in this
# folder, and /metrics sums them. It must be in the environment before a worker imports
# prometheus_client, so it is set here, in the master; a fresh folder per start.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _settings.metrics_dir or tempfile.mkdtemp(prefix="chat-api-metrics-")

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# A stream is mostly waiting on the upstream: gevent workers hold hundreds at once,
# where sync workers hold one each and kill any stream longer than --timeout.
worker_class = "chatgate.gevent_worker.GeventWorkerWithRealSelect"  # gevent, made cheaper per request: see the module
worker_connections = 2000
timeout = 120
graceful_timeout = round(_settings.stream_grace)  # open streams finish after SIGTERM, within this
keepalive = 5
# gunicorn answers a header over 8 KB with an HTML 431 of its own; let one up to 32 KB reach the app, which answers
# in the surface's JSON (a bearer over 16 KB is a 401 that says so).
limit_request_field_size = 32 * 1024
# The app builds its OpenAI client inside each worker, after gevent has patched sockets.
preload_app = False
# Since gunicorn 25.1 each instance opens a control socket under ~/.gunicorn; two
# instances of one user would clash on it.
control_socket_disable = True
accesslog = None  # the app logs one line per request itself


class LoggerWithoutAccessLines(glogging.Logger):
    """With a logconfig_dict, gunicorn builds an access line for every request even with no access log to write it
    to: about 3% of a request's CPU, for nothing. The app writes that line itself."""

    access_log_enabled = False


logger_class = LoggerWithoutAccessLines
# gunicorn's own lines in the app's format: ISO 8601 times, and one JSON object per line with LOG_FORMAT=json.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "app": {
            "()": "chatgate.web.request_log.JsonFormatter"
            if _settings.log_format == "json"
            else "chatgate.web.request_log.TextFormatter"
        }
    },
    "filters": {"request_id": {"()": "chatgate.web.request_log.RequestIdFilter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": [], "level": "INFO"},  # the app puts its own handler there, in each worker
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False, "qualname": "gunicorn.error"}
    },
}


def post_worker_init(worker):
    """Readiness turns 503 as soon as this worker is told to stop, while its open streams finish."""
    from chatgate.web.lifecycle import watch_stop_signals

    watch_stop_signals(worker.handle_exit)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (open streams) from the metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
