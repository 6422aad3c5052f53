"""Conversation sessions kept on the server, in the shared storage."""

from __future__ import annotations

from flask import Flask, current_app

from chatgate.sessions.owned import OwnedSessions
from chatgate.sessions.turn import Turn
from chatgate.storage.contracts import SessionStore
from chatgate.storage.records import Session

_KEY = "session_store"


def init_app(app: Flask, store: SessionStore) -> OwnedSessions:
    """Give the app its sessions, kept in `store`, each visible to its owners only (the store touches no file
    or server before its first use)."""
    sessions = app.extensions[_KEY] = OwnedSessions(store)
    return sessions


def owned_sessions() -> OwnedSessions:
    """The current app's sessions, as callers see them."""
    return current_app.extensions[_KEY]


__all__ = ["OwnedSessions", "Session", "SessionStore", "Turn", "init_app", "owned_sessions"]
