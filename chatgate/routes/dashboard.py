"""The dashboard: one static page that draws /usage (tokens and spend over time) in the playground's look."""

from __future__ import annotations

from flask import Blueprint, send_from_directory

from chatgate.routes.playground import PAGE_POLICY, STATIC_DIR
from chatgate.web.openapi import documented

PAGE_DIR = STATIC_DIR / "dashboard"

bp = Blueprint("dashboard", __name__, static_folder=str(PAGE_DIR), static_url_path="/dashboard/static")


@bp.get("/dashboard")
@documented(responses={200: "text/html"})
def dashboard():
    """Open the dashboard: usage and spend over time, per model (and per caller for an admin)."""
    page = send_from_directory(PAGE_DIR, "index.html", max_age=0)
    page.headers.update(PAGE_POLICY)  # as strict as the playground's: its own scripts, no other host
    return page
