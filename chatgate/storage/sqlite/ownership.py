"""Who made what, in the SQLite file: (kind, id) -> owners, until it expires."""

from __future__ import annotations

import time

from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS owned (kind TEXT NOT NULL, id TEXT NOT NULL, owners TEXT NOT NULL,
             expires_at REAL NOT NULL, PRIMARY KEY (kind, id))""",
)


class SQLiteOwnership:
    """Claims in one table, expired rows swept as new claims come."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def claim(self, kind: str, item_id: str, identities: frozenset[str], ttl: int) -> None:
        with self.db.write() as db:
            db.execute("DELETE FROM owned WHERE expires_at < ?", (time.time(),))
            db.execute(
                "INSERT OR REPLACE INTO owned VALUES (?, ?, ?, ?)",
                (kind, item_id, " ".join(sorted(identities)), time.time() + ttl),
            )

    def owners(self, kind: str, item_id: str) -> frozenset[str]:
        with self.db.read() as db:
            row = db.execute(
                "SELECT owners FROM owned WHERE kind = ? AND id = ? AND expires_at >= ?", (kind, item_id, time.time())
            ).fetchone()
        return frozenset(row[0].split()) if row else frozenset()
