"""Rings in the SQLite file: one table, numbered in the order records came; each addition drops what falls off
its ring's end."""

from __future__ import annotations

from typing import Any

import orjson

from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rings (seq INTEGER PRIMARY KEY AUTOINCREMENT, ring TEXT NOT NULL,
             record BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rings_by_ring ON rings (ring, seq)",
)


class SQLiteRings:
    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def add(self, ring: str, record: dict[str, Any], size: int) -> None:
        with self.db.write() as db:
            db.execute("INSERT INTO rings (ring, record) VALUES (?, ?)", (ring, orjson.dumps(record)))
            db.execute(
                "DELETE FROM rings WHERE ring = ? AND seq <= (SELECT seq FROM rings WHERE ring = ? "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (ring, ring, size),
            )

    def latest(self, ring: str, count: int) -> list[dict[str, Any]]:
        with self.db.read() as db:
            rows = db.execute(
                "SELECT record FROM rings WHERE ring = ? ORDER BY seq DESC LIMIT ?", (ring, count)
            ).fetchall()
        return [orjson.loads(row[0]) for row in rows]
