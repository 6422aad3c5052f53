"""The usage ledger's sums in the SQLite file: totals per caller and model, and the same per hour."""

from __future__ import annotations

from collections.abc import Callable

from chatgate.storage.records import FIELDS, Batch, Totals
from chatgate.storage.sqlite.database import Database

_COLUMNS = ", ".join(f"{field} INTEGER NOT NULL DEFAULT 0" for field in FIELDS)
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS usage (caller TEXT NOT NULL, model TEXT NOT NULL, {_COLUMNS}, "
    "PRIMARY KEY (caller, model))",
    f"CREATE TABLE IF NOT EXISTS usage_hours (caller TEXT NOT NULL, model TEXT NOT NULL, hour INTEGER NOT NULL, "
    f"{_COLUMNS}, PRIMARY KEY (hour, caller, model))",
)
# Files from before cached prompt tokens, and then the response cache's hits, were counted gain the columns.
_UPGRADES = (
    "ALTER TABLE usage ADD COLUMN cached_prompt_tokens INTEGER NOT NULL DEFAULT 0",
    *(
        f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
        for table in ("usage", "usage_hours")
        for column in ("cache_hits", "saved_prompt_tokens", "saved_completion_tokens")
    ),
)


class SQLiteLedger:
    """Totals and hourly sums, both added to in one transaction per batch."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA, _UPGRADES)

    def add(self, batch: Batch, if_lost: Callable[[], None] | None = None) -> None:
        """Add `batch` now (a failure raises: `if_lost` is for writes that travel later, which these never do)."""
        names, marks = ", ".join(FIELDS), ", ".join("?" * len(FIELDS))
        updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in FIELDS)
        rows = [(caller, model, hour, *(sums[f] for f in FIELDS)) for (caller, model, hour), sums in batch.items()]
        with self.db.write() as db:
            db.executemany(
                f"INSERT INTO usage (caller, model, {names}) VALUES (?, ?, {marks}) "
                f"ON CONFLICT(caller, model) DO UPDATE SET {updates}",
                [(caller, model, *sums) for caller, model, _, *sums in rows],
            )
            db.executemany(
                f"INSERT INTO usage_hours (caller, model, hour, {names}) VALUES (?, ?, ?, {marks}) "
                f"ON CONFLICT(hour, caller, model) DO UPDATE SET {updates}",
                rows,
            )

    def totals(self, caller: str | None = None) -> Totals:
        query = f"SELECT caller, model, {', '.join(FIELDS)} FROM usage"
        with self.db.read() as db:
            rows = db.execute(query + (" WHERE caller = ?" if caller else ""), (caller,) if caller else ()).fetchall()
        result: Totals = {}
        for who, model, *values in rows:
            result.setdefault(who, {})[model] = dict(zip(FIELDS, values, strict=True))
        return result

    def hours(self, since: int, until: int, caller: str | None = None) -> dict[int, Totals]:
        """The hourly sums from hour `since` up to (not including) `until`."""
        query = f"SELECT hour, caller, model, {', '.join(FIELDS)} FROM usage_hours WHERE hour >= ? AND hour < ?"
        with self.db.read() as db:
            rows = db.execute(
                query + (" AND caller = ?" if caller else ""), (since, until, *([caller] if caller else []))
            ).fetchall()
        result: dict[int, Totals] = {}
        for hour, who, model, *values in rows:
            result.setdefault(hour, {}).setdefault(who, {})[model] = dict(zip(FIELDS, values, strict=True))
        return result
