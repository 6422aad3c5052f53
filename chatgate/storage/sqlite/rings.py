"""Rings in the SQLite file: one table, numbered in the order records came. What falls off a ring's end is dropped
by every TRIM_EVERY-th addition a process makes to it, not by each: finding the end walks `size` rows of the index,
which cost a call more than its insertion. A ring so holds at most TRIM_EVERY records more than its size for each
process that writes to it; `latest` reads no further than asked."""

from __future__ import annotations

import collections
from typing import Any

import orjson

from chatgate.storage.sqlite.database import Database

TRIM_EVERY = 64
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rings (seq INTEGER PRIMARY KEY AUTOINCREMENT, ring TEXT NOT NULL,
             record BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rings_by_ring ON rings (ring, seq)",
)


class SQLiteRings:
    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)
        self._added: collections.Counter[str] = collections.Counter()  # since this process last trimmed the ring

    def add(self, ring: str, record: dict[str, Any], size: int) -> None:
        with self.db.write() as db:
            db.execute("INSERT INTO rings (ring, record) VALUES (?, ?)", (ring, orjson.dumps(record)))
            self._added[ring] += 1
            if self._added[ring] < TRIM_EVERY:
                return
            self._added[ring] = 0
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
