"""The playground: one static page that chats with the service, the reference client for its streams."""

from __future__ import annotations

import pathlib

from flask import Blueprint, send_from_directory

from web.openapi import documented

PAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "static" / "playground"

bp = Blueprint("playground", __name__, static_folder=str(PAGE_DIR), static_url_path="/playground/static")


@bp.get("/playground")
@documented(responses={200: "text/html"})
def playground():
    """Open the playground page: chat with the models in the browser."""
    return send_from_directory(PAGE_DIR, "index.html", max_age=0)
