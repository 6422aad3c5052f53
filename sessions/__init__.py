"""Conversation sessions kept on the server, in SQLite (default) or Redis (REDIS_URL)."""

from __future__ import annotations

from flask import Flask, current_app

from config import Settings
from sessions.owned import OwnedSessions
from storage.records import Session, SessionStore
from sessions.turn import Turn


def open_store(settings: Settings) -> SessionStore:
    """The store the settings ask for: Redis when REDIS_URL is set, else the SQLite file."""
    limits = dict(ttl_seconds=settings.session_ttl, max_messages=settings.session_max_messages)
    if settings.redis_url:
        from storage.redis.sessions import RedisSessionStore

        return RedisSessionStore(settings.redis_url, **limits)
    from storage.sqlite.sessions import SQLiteSessionStore

    return SQLiteSessionStore(settings.session_db_path, **limits)


_KEY = "session_store"


def init_app(app: Flask, settings: Settings) -> OwnedSessions:
    """Give the app its sessions, each visible to its owners only (the store touches no file or server
    before its first use)."""
    sessions = app.extensions[_KEY] = OwnedSessions(open_store(settings))
    return sessions


def owned_sessions() -> OwnedSessions:
    """The current app's sessions, as callers see them."""
    return current_app.extensions[_KEY]


__all__ = ["OwnedSessions", "Session", "SessionStore", "Turn", "init_app", "open_store", "owned_sessions"]
