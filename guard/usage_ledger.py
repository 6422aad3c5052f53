"""The usage ledger: prompt and completion tokens of every finished call, by caller and model."""

from __future__ import annotations

import atexit
import threading

from flask import Flask, current_app

from config import Settings
from storage.sqlite.database import STORAGE_ERRORS, Database, outage_noted, redis_client
from guard.access import current_caller
from upstream import Call, CallHook

_KEY = "usage_ledger"
FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "calls", "estimated_calls")

_SCHEMA = ("""CREATE TABLE IF NOT EXISTS usage (
    caller TEXT NOT NULL, model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0,
    estimated_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (caller, model))""",)


Batch = dict[tuple[str, str], dict[str, int]]  # (caller, model) -> sums of FIELDS


def _add_into(batch: Batch, key: tuple[str, str], amounts: dict[str, int]) -> None:
    sums = batch.setdefault(key, dict.fromkeys(FIELDS, 0))
    for field, amount in amounts.items():
        sums[field] += amount


def _increments(usage: dict, estimated: bool) -> dict[str, int]:
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(usage.get("total_tokens") or prompt + completion),
            "calls": 1, "estimated_calls": int(estimated)}


class SQLiteLedger:
    """Totals in the SQLite file of the sessions."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def add(self, batch: Batch) -> None:
        updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in FIELDS)
        with self.db.write() as db:
            db.executemany(f"INSERT INTO usage (caller, model, {', '.join(FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                           f"ON CONFLICT(caller, model) DO UPDATE SET {updates}",
                           [(caller, model, *(sums[f] for f in FIELDS)) for (caller, model), sums in batch.items()])

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        query = f"SELECT caller, model, {', '.join(FIELDS)} FROM usage"
        with self.db.read() as db:
            rows = db.execute(query + (" WHERE caller = ?" if caller else ""), (caller,) if caller else ()).fetchall()
        result: dict = {}
        for who, model, *values in rows:
            result.setdefault(who, {})[model] = dict(zip(FIELDS, values))
        return result


class RedisLedger:
    """Totals in Redis hashes, one per caller, shared by every instance."""

    PREFIX = "usage:"

    def __init__(self, url: str):
        self.redis = redis_client(url, decode_responses=True)

    def add(self, batch: Batch) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for (caller, model), sums in batch.items():
            for field, amount in sums.items():
                pipe.hincrby(self.PREFIX + caller, f"{model}\t{field}", amount)
        pipe.execute()

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        keys = [self.PREFIX + caller] if caller else list(self.redis.scan_iter(self.PREFIX + "*"))
        result: dict = {}
        for key in keys:
            for name, value in self.redis.hgetall(key).items():
                model, field = name.split("\t")
                result.setdefault(key.removeprefix(self.PREFIX), {}).setdefault(model, {})[field] = int(value)
        return result


class UsageLedger:
    """Writes each call's usage as the call ends, before its answer does: what a client was answered for is on
    file, even if the worker is killed a moment later. While storage is down the sums are held in memory and
    written with the next call that finds it back, or as the worker exits."""

    def __init__(self, store: SQLiteLedger | RedisLedger):
        self.store = store
        self._held: Batch = {}
        self._lock = threading.Lock()
        self._exit_flush = False

    def record(self, caller: str, model: str, usage: dict, estimated: bool) -> None:
        with self._lock:
            _add_into(self._held, (caller, model), _increments(usage, estimated))
            if not self._exit_flush:  # registered in the worker that records, after the fork
                self._exit_flush = True
                atexit.register(self._flush_at_exit)
        self.flush()

    def flush(self) -> None:
        """Write the sums held in memory; when storage is down, keep them for the next try."""
        with self._lock:
            batch, self._held = self._held, {}
        if not batch:
            return
        try:
            self.store.add(batch)
        except STORAGE_ERRORS:
            with self._lock:
                for key, sums in batch.items():
                    _add_into(self._held, key, sums)
            raise

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        self.flush()  # what an outage held is written before it is read
        return self.store.totals(caller)

    def _flush_at_exit(self) -> None:
        with outage_noted(f"usage of this worker's last calls: {self._held}"):
            self.flush()


class LedgerHook(CallHook):
    """Add each call's usage to the ledger under the calling request's caller."""

    def __init__(self, ledger: UsageLedger):
        self.ledger = ledger

    def on_usage(self, call: Call, usage: dict, estimated: bool) -> None:
        caller = current_caller()
        with outage_noted(f"usage of {caller} on {call.model}: {usage} (held, to be written on the next try)"):
            self.ledger.record(caller, call.model, usage, estimated)


def init_app(app: Flask, settings: Settings) -> UsageLedger:
    """Keep the ledger in Redis when configured, else in SQLite."""
    store = RedisLedger(settings.redis_url) if settings.redis_url else SQLiteLedger(settings.session_db_path)
    ledger = app.extensions[_KEY] = UsageLedger(store)
    return ledger


def usage_ledger() -> UsageLedger:
    """The current app's usage ledger."""
    return current_app.extensions[_KEY]
