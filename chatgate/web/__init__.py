"""What every request passes through: JSON, CORS, request ids and the access log, validation, streamed responses
and their SSE framing, the OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from chatgate.config import Settings
from chatgate.web import request_log
from chatgate.web.json_provider import OrjsonProvider

EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-Session-ID",
    "X-Stream-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    *(f"X-RateLimit-{figure}-{budget}" for budget in ("Tokens", "Spend") for figure in ("Limit", "Remaining", "Reset")),
    "X-Fallback-Model",
    "Retry-After",
    "x-should-retry",
    "X-Cache",
    "Age",
]


def init_app(app: Flask, settings: Settings) -> None:
    """JSON through orjson, the body size cap, CORS for the allowed origins, a logged id for every request, and the
    client address from TRUSTED_PROXY_HOPS proxies."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json = OrjsonProvider(app)
    CORS(app, origins=list(settings.allow_origins), expose_headers=EXPOSED_HEADERS)
    request_log.init_app(app, settings)

    @app.after_request
    def no_sniffing(response):
        # A browser must take each answer for the type it says: a JSON error is never run as a script or a page.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    if hops := settings.trusted_proxy_hops:
        # The client address is the one the nearest trusted proxy saw; entries a client wrote itself
        # stand further left in X-Forwarded-For, and are never read.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
