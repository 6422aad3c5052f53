"""Stored service tokens in the SQLite file: one row per token name, its record as JSON (a digest, never the
token)."""

from __future__ import annotations

from chatgate.storage.records import StoredToken
from chatgate.storage.sqlite.database import Database

_SCHEMA = ("""CREATE TABLE IF NOT EXISTS api_tokens (name TEXT PRIMARY KEY, record TEXT NOT NULL)""",)


class SQLiteTokenStore:
    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def add(self, stored: StoredToken) -> bool:
        with self.db.write() as db:
            return (
                db.execute("INSERT OR IGNORE INTO api_tokens VALUES (?, ?)", (stored.name, stored.record())).rowcount
                == 1
            )

    def all(self) -> list[StoredToken]:
        with self.db.read() as db:
            rows = db.execute("SELECT record FROM api_tokens ORDER BY name").fetchall()
        return [StoredToken.from_record(record) for (record,) in rows]

    def replace(self, stored: StoredToken) -> None:
        with self.db.write() as db:
            db.execute("UPDATE api_tokens SET record = ? WHERE name = ?", (stored.record(), stored.name))

    def remove(self, names: list[str]) -> None:
        with self.db.write() as db:
            db.executemany("DELETE FROM api_tokens WHERE name = ?", [(name,) for name in names])
