"""Cached answers in the SQLite file: key -> body, until it expires; at most `max_bytes` in all, oldest out first.
Beside them, the identical requests in flight for each key."""

from __future__ import annotations

import sqlite3
import time

from chatgate.storage.records import CachedAnswer
from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cached (key TEXT PRIMARY KEY, body BLOB NOT NULL, stored_at REAL NOT NULL,
             expires_at REAL NOT NULL, size INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS cached_by_age ON cached (stored_at)",
    """CREATE TABLE IF NOT EXISTS cached_flights (key TEXT PRIMARY KEY, count INTEGER NOT NULL,
             expires_at REAL NOT NULL)""",
)


class SQLiteResponseCache:
    def __init__(self, path: str, max_bytes: int):
        self.db = Database(path, _SCHEMA)
        self.max_bytes = max_bytes

    def join(self, key: str, flight_ttl: int) -> tuple[CachedAnswer | None, int]:
        now = time.time()
        with self.db.write() as db:
            if found := _entry(db, key, now):
                return found, 0
            db.execute(
                "INSERT INTO cached_flights VALUES (?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
                "count = CASE WHEN expires_at > ? THEN count + 1 ELSE 1 END, "
                "expires_at = CASE WHEN expires_at > ? THEN expires_at ELSE excluded.expires_at END",
                (key, now + flight_ttl, now, now),
            )
            return None, db.execute("SELECT count FROM cached_flights WHERE key = ?", (key,)).fetchone()[0]

    def look(self, key: str) -> tuple[CachedAnswer | None, int]:
        now = time.time()
        with self.db.read() as db:
            row = db.execute("SELECT count FROM cached_flights WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
            return _entry(db, key, now), row[0] if row else 0

    def land(self, key: str, body: bytes | None, ttl: int, leads: bool) -> None:
        if body is None and not leads:
            return
        now = time.time()
        with self.db.write() as db:
            if leads:
                db.execute("DELETE FROM cached_flights WHERE key = ? OR expires_at <= ?", (key, now))
            if body is not None:
                self._put(db, key, body, now, ttl)

    def _put(self, db: sqlite3.Connection, key: str, body: bytes, now: float, ttl: int) -> None:
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


def _entry(db: sqlite3.Connection, key: str, now: float) -> CachedAnswer | None:
    row = db.execute("SELECT body, stored_at FROM cached WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
    return CachedAnswer(bytes(row[0]), row[1]) if row else None
