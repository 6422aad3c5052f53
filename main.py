"""The application factory; `app` is what `gunicorn main:app` serves."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

import errors
import routes
import sessions
from config import Settings
from guard import access, metrics, rate_limits, usage_ledger
from models import Catalogue
from upstream import client as upstream
from web import request_log
from web.json_provider import OrjsonProvider

EXPOSED_HEADERS = ["X-Request-ID", "X-Session-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                   "X-RateLimit-Reset", "Retry-After"]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["settings"] = settings
    app.json = OrjsonProvider(app)
    CORS(app, origins=list(settings.allow_origins), expose_headers=EXPOSED_HEADERS)
    request_log.init_app(app, settings)
    errors.init_app(app)
    upstream.init_app(app, settings, Catalogue.from_settings(settings))
    access.init_app(app, settings)
    rate_limits.init_app(app, settings)
    usage_ledger.init_app(app, settings)
    sessions.init_app(app, settings)
    metrics.init_app(app, settings)
    routes.init_app(app)
    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=app.extensions["settings"].port, threaded=True)
