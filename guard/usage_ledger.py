"""The usage ledger: prompt and completion tokens of every finished call, by caller and model.

A worker sums its calls in memory and writes the sums at most once per USAGE_FLUSH_INTERVAL: one
transaction for many calls instead of one per call. It writes what it holds before it exits.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from flask import Flask, current_app

from config import Settings
from db import STORAGE_ERRORS, Database, outage_noted, redis_client, transaction
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


log = logging.getLogger(__name__)
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
        with transaction(self.db.connection()) as db:
            db.executemany(f"INSERT INTO usage (caller, model, {', '.join(FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                           f"ON CONFLICT(caller, model) DO UPDATE SET {updates}",
                           [(caller, model, *(sums[f] for f in FIELDS)) for (caller, model), sums in batch.items()])

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        query = f"SELECT caller, model, {', '.join(FIELDS)} FROM usage"
        rows = self.db.connection().execute(query + (" WHERE caller = ?" if caller else ""),
                                          (caller,) if caller else ()).fetchall()
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
    """Sums each call's usage in memory and writes the sums to the store at most once per `interval` seconds
    (0: every call), from the call that finds them due or, when calls stop, from a flusher thread."""

    def __init__(self, store: SQLiteLedger | RedisLedger, interval: float):
        self.store, self.interval = store, interval
        self._pending: Batch = {}
        self._lock = threading.Lock()
        self._due = 0.0
        self._flushing = False  # a flusher thread is waiting to write what calls leave behind
        self._exit_flush = False

    def record(self, caller: str, model: str, usage: dict, estimated: bool) -> None:
        with self._lock:
            _add_into(self._pending, (caller, model), _increments(usage, estimated))
            due = time.monotonic() >= self._due
            if not self._exit_flush:  # registered in the worker that records, after the fork
                self._exit_flush = True
                atexit.register(self._flush_at_exit)
            if self.interval > 0 and not self._flushing:
                self._flushing = True
                threading.Thread(target=self._flush_while_calls_come, name="usage-flusher", daemon=True).start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the sums held in memory; when storage is down, keep them for the next try."""
        with self._lock:
            batch, self._pending = self._pending, {}
            self._due = time.monotonic() + self.interval
        if not batch:
            return
        try:
            self.store.add(batch)
        except STORAGE_ERRORS:
            with self._lock:
                for key, sums in batch.items():
                    _add_into(self._pending, key, sums)
            raise

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        self.flush()  # this worker's own calls are always in; another worker's within one interval
        return self.store.totals(caller)

    def _flush_while_calls_come(self) -> None:
        """Write what the last calls left, one interval after them; end when nothing is left."""
        while True:
            time.sleep(self.interval)
            self._flush_noting_outage()
            with self._lock:
                if not self._pending:
                    self._flushing = False
                    return

    def _flush_noting_outage(self) -> None:
        # Nothing is lost here (a failed flush keeps its sums), so the line need not list them.
        with outage_noted("usage held in memory, to be written on the next try"):
            self.flush()

    def _flush_at_exit(self) -> None:
        with outage_noted(f"usage of this worker's last calls: {self._pending}"):
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
    ledger = app.extensions[_KEY] = UsageLedger(store, settings.usage_flush_interval)
    return ledger


def usage_ledger() -> UsageLedger:
    """The current app's usage ledger."""
    return current_app.extensions[_KEY]
