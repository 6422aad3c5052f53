"""Upstreams at rest, in the SQLite file: each one's end of rest and its run of failures, for every worker."""

from __future__ import annotations

from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS upstream_rests (name TEXT PRIMARY KEY, until REAL NOT NULL, failures INTEGER NOT NULL)",
)


class SQLiteRests:
    """One row per upstream that failed; a success puts its row back to no rest and no failures."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def rest(self, name: str, until: float, failures: int) -> None:
        with self.db.write() as db:
            db.execute("INSERT OR REPLACE INTO upstream_rests VALUES (?, ?, ?)", (name, until, failures))

    def states(self) -> dict[str, tuple[float, int]]:
        with self.db.read() as db:
            rows = db.execute("SELECT name, until, failures FROM upstream_rests").fetchall()
        return {name: (until, failures) for name, until, failures in rows}
