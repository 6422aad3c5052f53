"""The application factory; `app` is what `gunicorn main:app` serves."""

from __future__ import annotations

from flask import Flask

import config
import errors
import guard
import models
import routes
import sessions
import upstream
import web
from config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from `settings` (default: the environment); each piece gets what it depends on."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    config.install(app, settings)
    web.init_app(app, settings)
    errors.init_app(app, routes.ERROR_SHAPES)
    call_hooks = guard.init_app(app, settings)
    client = upstream.init_app(app, settings, call_hooks)
    models.init_app(app, settings, fetch_upstream_models=client.model_ids)
    sessions.init_app(app, settings)
    routes.init_app(app)
    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=Settings.from_env().port, threaded=True)
