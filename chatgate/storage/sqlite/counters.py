"""A storage for the `limits` library on SQLite, so that limits hold across every gunicorn worker.

`limits` ships memory storage (wrong with several workers) and server storages (Redis,
memcached, MongoDB). This adds the embedded case: fixed windows whose counters live in
the same SQLite file as the sessions, incremented atomically in one transaction.
"""

from __future__ import annotations

import sqlite3
import time

from chatgate.storage.contracts import Counters
from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)",
)


class SQLiteStorage(Counters):
    """Fixed-window counters in a SQLite table."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.db = Database(uri.removeprefix("sqlite:///"), _SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.count(key, expiry, amount)[0]

    def count(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """Add `amount` to a fixed-window counter: (the count after, the window's end), in one transaction."""
        now = time.time()
        with self.db.write() as db:
            return _add(db, key, amount, now, now + expiry)

    def settle(self, key: str, expiry: int, reserved: int, spent: int, window_ends: float, what: str) -> None:
        """Settle a reservation to what was spent, in one transaction: in the window it was made in, give back
        what was not spent (or take the excess); once that window has ended, only an excess is owed, to the new
        one."""
        now = time.time()
        with self.db.write() as db:
            row = db.execute(
                "SELECT expires_at FROM rate_limits WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            change = spent - reserved if row and abs(row[0] - window_ends) < 1.5 else max(0, spent - reserved)
            if change:
                _add(db, key, change, now, now + expiry)

    def reserve(self, key: str, expiry: int, amount: int, limit: int) -> tuple[bool, int, float]:
        """Add `amount` to the counter only if it stays within `limit`: (granted, the count after, window end)."""
        now = time.time()
        with self.db.write() as db:
            row = db.execute(
                "SELECT count, expires_at FROM rate_limits WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            count, ends = row if row else (0, now + expiry)
            if count + amount > limit:
                return False, count, ends
            return (True, *_add(db, key, amount, now, ends))

    def get(self, key: str) -> int:
        with self.db.read() as db:
            row = db.execute(
                "SELECT count FROM rate_limits WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        with self.db.read() as db:
            row = db.execute(
                "SELECT expires_at FROM rate_limits WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        with self.db.read() as db:
            return bool(db.execute("SELECT 1").fetchone() == (1,))

    def reset(self) -> int | None:
        with self.db.write() as db:
            return db.execute("DELETE FROM rate_limits").rowcount

    def clear(self, key: str) -> None:
        with self.db.write() as db:
            db.execute("DELETE FROM rate_limits WHERE key = ?", (key,))


def _add(db: sqlite3.Connection, key: str, amount: int, now: float, ends: float) -> tuple[int, float]:
    """Inside a write transaction: add `amount` to a counter, which starts a new window ending at `ends` when its
    last one has ended. (the count after, the window's end)"""
    db.execute("DELETE FROM rate_limits WHERE key = ? AND expires_at <= ?", (key, now))
    count, window_ends = db.execute(
        "INSERT INTO rate_limits (key, count, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET count = count + excluded.count RETURNING count, expires_at",
        (key, amount, ends),
    ).fetchone()
    return int(count), float(window_ends)
