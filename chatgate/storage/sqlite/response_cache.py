"""Cached answers in the SQLite file: key -> body, until it expires; at most `max_bytes` in all, oldest out first."""

from __future__ import annotations

import time

from chatgate.storage.records import CachedAnswer
from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cached (key TEXT PRIMARY KEY, body BLOB NOT NULL, stored_at REAL NOT NULL,
             expires_at REAL NOT NULL, size INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS cached_by_age ON cached (stored_at)",
)


class SQLiteResponseCache:
    def __init__(self, path: str, max_bytes: int):
        self.db = Database(path, _SCHEMA)
        self.max_bytes = max_bytes

    def get(self, key: str) -> CachedAnswer | None:
        with self.db.read() as db:
            row = db.execute(
                "SELECT body, stored_at FROM cached WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
        return CachedAnswer(bytes(row[0]), row[1]) if row else None

    def put(self, key: str, body: bytes, ttl: int) -> None:
        now = time.time()
        with self.db.write() as db:
            db.execute("DELETE FROM cached WHERE expires_at <= ?", (now,))
            db.execute("INSERT OR REPLACE INTO cached VALUES (?, ?, ?, ?, ?)", (key, body, now, now + ttl, len(body)))
            total = db.execute("SELECT COALESCE(SUM(size), 0) FROM cached").fetchone()[0]
            while total > self.max_bytes:  # the oldest go first, until what is left fits
                oldest = db.execute("SELECT key, size FROM cached ORDER BY stored_at LIMIT 64").fetchall()
                for old_key, size in oldest:
                    db.execute("DELETE FROM cached WHERE key = ?", (old_key,))
                    total -= size
                    if total <= self.max_bytes:
                        break
