"""Who made what the upstream keeps for later (a stored response): only that caller may see it through us.

Everything made through the server's key lives in one upstream account, so the upstream alone
would show any caller's stored response to any other who learned its id.
"""

from __future__ import annotations

import time

from flask import Flask, current_app

from config import Settings
from storage.sqlite.database import Database, redis_client

_KEY = "ownership"
_SCHEMA = ("""CREATE TABLE IF NOT EXISTS owned (kind TEXT NOT NULL, id TEXT NOT NULL, owners TEXT NOT NULL,
             expires_at REAL NOT NULL, PRIMARY KEY (kind, id))""",)


class SQLiteOwnership:
    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def claim(self, kind: str, item_id: str, identities: frozenset[str], ttl: int) -> None:
        with self.db.write() as db:
            db.execute("DELETE FROM owned WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT OR REPLACE INTO owned VALUES (?, ?, ?, ?)",
                       (kind, item_id, " ".join(sorted(identities)), time.time() + ttl))

    def owners(self, kind: str, item_id: str) -> frozenset[str]:
        with self.db.read() as db:
            row = db.execute("SELECT owners FROM owned WHERE kind = ? AND id = ? AND expires_at >= ?",
                             (kind, item_id, time.time())).fetchone()
        return frozenset(row[0].split()) if row else frozenset()


class RedisOwnership:
    def __init__(self, url: str):
        self.redis = redis_client(url, decode_responses=True)

    def claim(self, kind: str, item_id: str, identities: frozenset[str], ttl: int) -> None:
        self.redis.set(f"owned:{kind}:{item_id}", " ".join(sorted(identities)), ex=ttl)

    def owners(self, kind: str, item_id: str) -> frozenset[str]:
        return frozenset((self.redis.get(f"owned:{kind}:{item_id}") or "").split())


class Ownership:
    """Claims on ids, kept where every worker (and, on Redis, every instance) sees them."""

    def __init__(self, store: SQLiteOwnership | RedisOwnership):
        self.store = store

    def claim(self, kind: str, item_id: object, identities: frozenset[str], ttl: int) -> None:
        if isinstance(item_id, str) and item_id:
            self.store.claim(kind, item_id, identities, ttl)

    def owns(self, kind: str, item_id: str, identities: frozenset[str]) -> bool:
        return bool(self.store.owners(kind, item_id) & identities)


def init_app(app: Flask, settings: Settings) -> Ownership:
    """Keep claims in Redis when configured, else in SQLite."""
    store = RedisOwnership(settings.redis_url) if settings.redis_url else SQLiteOwnership(settings.session_db_path)
    ownership_ = app.extensions[_KEY] = Ownership(store)
    return ownership_


def ownership() -> Ownership:
    """The current app's claims."""
    return current_app.extensions[_KEY]
