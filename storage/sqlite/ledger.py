"""The usage ledger's sums in the SQLite file, one row per caller and model."""

from __future__ import annotations

from storage.records import FIELDS, Batch
from storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS usage (
    caller TEXT NOT NULL, model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0,
    estimated_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (caller, model))""",
)


class SQLiteLedger:
    """Totals in one table, added to in one transaction per batch."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def add(self, batch: Batch) -> None:
        updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in FIELDS)
        with self.db.write() as db:
            db.executemany(
                f"INSERT INTO usage (caller, model, {', '.join(FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT(caller, model) DO UPDATE SET {updates}",
                [(caller, model, *(sums[f] for f in FIELDS)) for (caller, model), sums in batch.items()],
            )

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        query = f"SELECT caller, model, {', '.join(FIELDS)} FROM usage"
        with self.db.read() as db:
            rows = db.execute(query + (" WHERE caller = ?" if caller else ""), (caller,) if caller else ()).fetchall()
        result: dict = {}
        for who, model, *values in rows:
            result.setdefault(who, {})[model] = dict(zip(FIELDS, values, strict=True))
        return result
