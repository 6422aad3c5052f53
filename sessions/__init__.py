"""Conversation sessions kept on the server, in SQLite (default) or Redis (REDIS_URL)."""

from __future__ import annotations

from flask import Flask, current_app

from config import Settings
from sessions.store import Session, SessionStore


def open_store(settings: Settings) -> SessionStore:
    """The store the settings ask for: Redis when REDIS_URL is set, else the SQLite file."""
    limits = dict(ttl_seconds=settings.session_ttl, max_messages=settings.session_max_messages)
    if settings.redis_url:
        from sessions.redis_store import RedisSessionStore

        return RedisSessionStore(settings.redis_url, **limits)
    from sessions.sqlite_store import SQLiteSessionStore

    return SQLiteSessionStore(settings.session_db_path, **limits)


def init_app(app: Flask, settings: Settings) -> None:
    """Give the app its session store."""
    app.extensions["session_store"] = open_store(settings)


def session_store() -> SessionStore:
    """The current app's session store."""
    return current_app.extensions["session_store"]


__all__ = ["Session", "SessionStore", "open_store", "init_app", "session_store"]
