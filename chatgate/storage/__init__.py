"""Where every piece of state lives, chosen once: the SQLite file at DB_PATH, or Redis with REDIS_URL.

`open_storage` makes the choice; the factory hands each part of the service its store from the
backend it returns (sessions, stream buffers, ownership claims, the usage ledger, stored tokens,
limit counters, upstreams at rest), and readiness asks it whether it answers.
"""

from __future__ import annotations

from flask import Flask, current_app

from chatgate.config import Settings
from chatgate.storage.contracts import Backend
from chatgate.storage.outage import STORAGE_ERRORS, outage_noted

_KEY = "storage"


def open_storage(settings: Settings) -> Backend:
    """The backend the settings ask for: Redis with REDIS_URL, else the SQLite file. Nothing is opened yet."""
    if settings.redis_url:
        from chatgate.storage.redis import RedisBackend

        return RedisBackend(settings.redis_url)
    from chatgate.storage.sqlite import SQLiteBackend

    return SQLiteBackend(settings.db_path)


def token_counts(backend: Backend) -> tuple[int, int] | None:
    """How many tokens storage holds and how many of them are usable; None when it does not answer."""
    if backend.is_new():  # nothing to count, and nothing is made by counting it
        return 0, 0
    try:
        stored = backend.tokens().all()
    except STORAGE_ERRORS:
        return None
    return len(stored), sum(token.active for token in stored)


def init_app(app: Flask, backend: Backend) -> Backend:
    """Make `backend` the app's storage (readiness asks it)."""
    app.extensions[_KEY] = backend
    return backend


def current_storage() -> Backend:
    """The current app's storage."""
    backend: Backend = current_app.extensions[_KEY]
    return backend


__all__ = [
    "STORAGE_ERRORS",
    "Backend",
    "current_storage",
    "init_app",
    "open_storage",
    "outage_noted",
    "token_counts",
]
