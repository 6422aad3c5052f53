"""The usage ledger: prompt and completion tokens of every finished call, by caller and model."""

from __future__ import annotations

from flask import Flask, current_app

from config import Settings
from db import Database, outage_noted, redis_client, transaction
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


def _increments(usage: dict, estimated: bool) -> dict[str, int]:
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(usage.get("total_tokens") or prompt + completion),
            "calls": 1, "estimated_calls": int(estimated)}


class SQLiteLedger:
    """Totals in the SQLite file of the sessions."""

    def __init__(self, path: str):
        self.db = Database(path, _SCHEMA)

    def record(self, caller: str, model: str, usage: dict, estimated: bool) -> None:
        add = _increments(usage, estimated)
        updates = ", ".join(f"{f} = {f} + excluded.{f}" for f in FIELDS)
        with transaction(self.db.connection()) as db:
            db.execute(f"INSERT INTO usage (caller, model, {', '.join(FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                       f"ON CONFLICT(caller, model) DO UPDATE SET {updates}",
                       (caller, model, *(add[f] for f in FIELDS)))

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

    def record(self, caller: str, model: str, usage: dict, estimated: bool) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for field, amount in _increments(usage, estimated).items():
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


class LedgerHook(CallHook):
    """Write each call's usage to the ledger under the calling request's caller."""

    def __init__(self, ledger):
        self.ledger = ledger

    def on_usage(self, call: Call, usage: dict, estimated: bool) -> None:
        caller = current_caller()
        with outage_noted(f"usage of {caller} on {call.model}: {usage}"):
            self.ledger.record(caller, call.model, usage, estimated)


def init_app(app: Flask, settings: Settings) -> SQLiteLedger | RedisLedger:
    """Keep the ledger in Redis when configured, else in SQLite."""
    ledger = app.extensions[_KEY] = RedisLedger(settings.redis_url) if settings.redis_url \
        else SQLiteLedger(settings.session_db_path)
    return ledger


def usage_ledger() -> SQLiteLedger | RedisLedger:
    """The current app's usage ledger."""
    return current_app.extensions[_KEY]
