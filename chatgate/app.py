"""The application factory; `app` is what `chatgate serve` (and, from a checkout, `gunicorn main:app`) serves."""

from __future__ import annotations

import logging
import os
import sys

from flask import Flask

from chatgate import (
    alerts,
    cache,
    config,
    errors,
    guard,
    models,
    routes,
    sessions,
    storage,
    streams,
    telemetry,
    upstream,
    web,
)
from chatgate.config import ConfigError, Settings
from chatgate.guard.pricing import Prices
from chatgate.web import recent_calls

log = logging.getLogger(__name__)
WORKER_BOOT_ERROR = 3  # gunicorn's Arbiter.WORKER_BOOT_ERROR


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the environment); each piece gets what it depends on."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    config.install(app, settings)
    web.init_app(app, settings)
    store = storage.init_app(app, storage.open_storage(settings))
    errors.init_app(app, routes.ERROR_SHAPES, storage_errors=storage.STORAGE_ERRORS)
    prices = Prices(settings)
    alerting = alerts.init_app(settings, store.counters())  # None without ALERT_WEBHOOK_URL
    call_hooks = guard.init_app(app, settings, store, prices, alerting.budget_used if alerting else None)
    call_hooks += alerts.hooks(alerting) + telemetry.init_app(app, settings, prices)
    recent_calls.init_app(app, store.rings(), settings.recent_calls, store.together)
    call_hooks += (recent_calls.CallNotes(prices),) if settings.recent_calls else ()
    client = upstream.init_app(
        app,
        settings,
        call_hooks,
        request_headers=telemetry.propagating(app, web.request_log.trace_headers),
        caller=guard.access.calling,
        rests=alerts.watching(store.rests(), alerting),
        failures=store.counters(),
        together=store.together,
    )
    models.init_app(app, settings, fetch_upstream_models=client.model_ids)
    buffer = streams.init_app(app, store.stream_buffer(settings.stream_retention))
    cache.init_app(app, settings, store, buffer)  # identical streams in flight follow the first through the buffer
    sessions.init_app(app, store.sessions(settings.session_ttl, settings.session_max_messages))
    routes.init_app(app)
    if not os.environ.get("CHAT_API_WARNED"):  # under gunicorn the master has said them, once
        for warning in settings.warnings(storage.token_counts(store)):
            log.warning(warning)
    return app


def app_from_environment() -> Flask:
    try:
        return create_app()
    except ConfigError as error:  # one line that names the variable, not a traceback
        print(f"Configuration error: {error}", file=sys.stderr, flush=True)
        # gunicorn stops, instead of starting the worker again forever, when a worker exits with this code.
        sys.exit(WORKER_BOOT_ERROR)


def __getattr__(name: str) -> Flask:
    """`app` (what `chatgate serve`, `gunicorn main:app` and `flask --app main` load), built from the environment the
    first time it is asked for: importing this module for its factory, as the tests do, reads no environment and no
    .env."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = app_from_environment()
    return built
