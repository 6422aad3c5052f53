"""Live API documentation: the OpenAPI document, Swagger UI and ReDoc, served with no CDN."""

from __future__ import annotations

import functools
import importlib.resources
import pathlib
import re

from flask import Blueprint, Response, current_app, send_from_directory

from chatgate.config import SERVICE_NAME
from chatgate.errors import error_shapes
from chatgate.models import catalogue
from chatgate.web.openapi import build_spec, hidden

bp = Blueprint("docs", __name__)
_SPEC_KEY = "openapi_spec"

# The UI bundles ship inside these pip packages, so the docs work with the network cut off.
SWAGGER_ASSETS = importlib.resources.files("flask_openapi3_swagger") / "templates" / "swagger"
REDOC_ASSETS = importlib.resources.files("flask_openapi3_redoc") / "templates" / "redoc"

SWAGGER_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{SERVICE_NAME}: Swagger UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/docs/assets/css/swagger-ui.css"></head>
<body><p style="font-family:sans-serif;margin:1em">Try it live in the <a href="/playground">playground</a>.</p>
<div id="swagger-ui"></div>
<script src="/docs/assets/js/swagger-ui-bundle.js"></script>
<script src="/docs/assets/js/swagger-ui-standalone-preset.js"></script>
<script src="/docs/swagger-init.js"></script></body></html>
"""

REDOC_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{SERVICE_NAME}: ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.svg" type="image/svg+xml"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/assets/js/redoc.standalone.js"></script></body></html>
"""


# The pages may load nothing from elsewhere (ReDoc's bundle, for one, fetches its logo from a CDN), run only
# their own script files, and be framed only by this service. Styles stay 'unsafe-inline': both bundles set
# style attributes and write <style> elements as they draw, and neither offers a nonce.
OFFLINE_POLICY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'"
}
DOCS_DIR = pathlib.Path(__file__).resolve().parent.parent / "static" / "docs"


@bp.get("/openapi.json")
def openapi_document():
    """Show the OpenAPI 3.1 document of every endpoint."""
    names = catalogue().names
    built_for, spec = current_app.extensions.get(_SPEC_KEY, ((), None))
    if spec is None or built_for != names:  # the routes are fixed; only the catalogue (MODELS=auto) can change
        spec = build_spec(current_app, error_shapes(), names)
        current_app.extensions[_SPEC_KEY] = (names, spec)
    return spec


@bp.get("/docs")
def swagger_ui():
    """Show the interactive API documentation (Swagger UI)."""
    return Response(SWAGGER_PAGE, mimetype="text/html", headers=OFFLINE_POLICY)


@bp.get("/redoc")
def redoc():
    """Show the API reference (ReDoc)."""
    return Response(REDOC_PAGE, mimetype="text/html", headers=OFFLINE_POLICY)


@bp.get("/docs/swagger-init.js")
@hidden
def swagger_init():
    """Serve the script that starts Swagger UI."""
    return send_from_directory(DOCS_DIR, "swagger-init.js", max_age=0)


@bp.get("/docs/websocket")
def websocket_note():
    """Explain that streaming uses Server-Sent Events, not WebSockets."""
    return {
        "websocket": False,
        "message": "This service has no WebSocket endpoint. Stream replies with Server-Sent Events: "
        'POST /chat/stream, or POST /v1/chat/completions with "stream": true.',
    }


@bp.get("/docs/assets/<path:filename>")
@hidden
def swagger_asset(filename: str):
    """Serve a Swagger UI asset."""
    return send_from_directory(str(SWAGGER_ASSETS), filename, max_age=86400)


# ReDoc's bundle shows its maker's logo from a CDN, with no option to turn it off; served from here, the same
# bundle points at the logo in its own package instead.
REMOTE_LOGO = re.compile(rb'"https://[^"]+/logo-mini\.svg"')


@functools.cache
def redoc_bundle() -> bytes:
    bundle = (REDOC_ASSETS / "js" / "redoc.standalone.js").read_bytes()
    return REMOTE_LOGO.sub(b'"/redoc/assets/images/redoc.svg"', bundle)


@bp.get("/redoc/assets/js/redoc.standalone.js")
@hidden
def redoc_script():
    """Serve ReDoc's bundle, with its logo from this service."""
    script = Response(redoc_bundle(), mimetype="text/javascript")
    script.cache_control.public, script.cache_control.max_age = True, 86400
    return script


@bp.get("/redoc/assets/<path:filename>")
@hidden
def redoc_asset(filename: str):
    """Serve a ReDoc asset."""
    return send_from_directory(str(REDOC_ASSETS), filename, max_age=86400)
