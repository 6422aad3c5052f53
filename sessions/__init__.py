"""Conversation sessions kept on the server, in SQLite (default) or Redis (REDIS_URL)."""

from __future__ import annotations

from flask import Flask, current_app

from config import Settings
from sessions.store import Session, SessionStore
from sessions.turn import Turn


def open_store(settings: Settings) -> SessionStore:
    """The store the settings ask for: Redis when REDIS_URL is set, else the SQLite file."""
    limits = dict(ttl_seconds=settings.session_ttl, max_messages=settings.session_max_messages)
    if settings.redis_url:
        from sessions.redis_store import RedisSessionStore

        return RedisSessionStore(settings.redis_url, **limits)
    from sessions.sqlite_store import SQLiteSessionStore

    return SQLiteSessionStore(settings.session_db_path, **limits)


_KEY = "session_store"


def init_app(app: Flask, settings: Settings) -> SessionStore:
    """Give the app its session store (it touches no file or server before its first use)."""
    store = app.extensions[_KEY] = open_store(settings)
    return store


def session_store() -> SessionStore:
    """The current app's session store."""
    return current_app.extensions[_KEY]


__all__ = ["Session", "SessionStore", "Turn", "init_app", "open_store", "session_store"]
