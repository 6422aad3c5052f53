"""The playground: one static page that chats with the service, the reference client for its streams."""

from __future__ import annotations

import pathlib

from flask import Blueprint, send_from_directory

from chatgate.web.openapi import documented, hidden

STATIC_DIR = pathlib.Path(__file__).resolve().parent.parent / "static"
PAGE_DIR = STATIC_DIR / "playground"
VENDOR_DIR = STATIC_DIR / "vendor"  # marked, DOMPurify, highlight.js: copied by `make vendor`, pinned

bp = Blueprint("playground", __name__, static_folder=str(PAGE_DIR), static_url_path="/playground/static")

# Model output is untrusted. Past the sanitiser, the page runs only its own files (no inline script, so an
# injected handler cannot run) and loads images only from here: a reply's ![](https://elsewhere/?q=...) must not
# carry the conversation to another host.
PAGE_POLICY = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; img-src 'self' data:; "
    "style-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
}


@bp.get("/playground")
@documented(responses={200: "text/html"})
def playground():
    """Open the playground page: chat with the models in the browser."""
    page = send_from_directory(PAGE_DIR, "index.html", max_age=0)
    page.headers.update(PAGE_POLICY)
    return page


@bp.get("/favicon.ico")
@bp.get("/favicon.svg")
@hidden
def favicon():
    """Serve the service's icon (browsers ask every page's /favicon.ico)."""
    return send_from_directory(STATIC_DIR, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


@bp.get("/playground/vendor/<path:filename>")
@hidden
def vendored(filename: str):
    """Serve one of the playground's pinned browser libraries."""
    return send_from_directory(VENDOR_DIR, filename, max_age=86400)
