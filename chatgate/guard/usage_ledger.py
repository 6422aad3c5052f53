"""The usage ledger: prompt and completion tokens of every finished call, by caller and model, and the answers the
response cache gave instead, with the tokens they saved."""

from __future__ import annotations

import atexit
import threading
import time
from typing import Any, cast

from flask import Flask, current_app

from chatgate.guard.pricing import Prices
from chatgate.storage.contracts import LedgerStore
from chatgate.storage.outage import STORAGE_ERRORS, outage_noted
from chatgate.storage.records import FIELDS, SAVED, Batch, Totals
from chatgate.upstream import Call, CallHook, Outcome
from chatgate.upstream.hooks import bounded_usage, cached_tokens

_KEY = "usage_ledger"
_PRICES = "prices"


def _add_into(batch: Batch, key: tuple[str, str, int], amounts: dict[str, int]) -> None:
    sums = batch.setdefault(key, dict.fromkeys(FIELDS, 0))
    for field, amount in amounts.items():
        sums[field] += amount


def _increments(usage: dict[str, Any], estimated: bool) -> dict[str, int]:
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached_tokens(usage),
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
        "calls": 1,
        "estimated_calls": int(estimated),
    }


class UsageLedger:
    """Writes each call's usage as the call ends, before its answer does: what a client was answered for is on
    file, even if the worker is killed a moment later. While storage is down the sums are held in memory and
    written with the next call that finds it back, or as the worker exits."""

    def __init__(self, store: LedgerStore):
        self.store = store
        self._held: Batch = {}
        self._lock = threading.Lock()
        self._exit_flush = False

    def record(self, caller: str, model: str, usage: dict[str, Any], estimated: bool) -> None:
        self._add(caller, model, _increments(usage, estimated))

    def record_hit(self, caller: str, model: str, usage: dict[str, Any]) -> None:
        """An answer given again from the cache: one hit, and the tokens its first asking cost."""
        usage = bounded_usage(usage)
        self._add(caller, model, {"cache_hits": 1, **{SAVED[field]: usage[field] for field in SAVED}})

    def _add(self, caller: str, model: str, amounts: dict[str, int]) -> None:
        with self._lock:
            hour = int(time.time()) // 3600 * 3600
            _add_into(self._held, (caller, model, hour), amounts)
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
            # A write that travels with others (Redis) may be lost after this returns: then it is held again.
            self.store.add(batch, if_lost=lambda: self._hold(batch))
        except STORAGE_ERRORS:
            self._hold(batch)
            raise

    def _hold(self, batch: Batch) -> None:
        """Keep sums that could not be written, for the next try."""
        with self._lock:
            for key, sums in batch.items():
                _add_into(self._held, key, sums)

    def totals(self, caller: str | None = None) -> Totals:
        self.flush()  # what an outage held is written before it is read
        return self.store.totals(caller)

    def hours(self, since: int, until: int, caller: str | None = None) -> dict[int, Totals]:
        self.flush()
        return self.store.hours(since, until, caller)

    def _flush_at_exit(self) -> None:
        with outage_noted(f"usage of this worker's last calls: {self._held}"):
            self.flush()


class LedgerHook(CallHook):
    """Add each call's usage to the ledger under its caller."""

    def __init__(self, ledger: UsageLedger):
        self.ledger = ledger

    def after(self, call: Call, outcome: Outcome) -> None:
        if (usage := outcome.usage) is None:
            return
        caller = call.caller
        with outage_noted(f"usage of {caller} on {call.model}: {usage} (held, to be written on the next try)"):
            self.ledger.record(caller, call.model, usage, outcome.estimated)


def init_app(app: Flask, store: LedgerStore, prices: Prices) -> UsageLedger:
    """Keep the app's ledger in `store`, priced with `prices`."""
    ledger = app.extensions[_KEY] = UsageLedger(store)
    app.extensions[_PRICES] = prices
    return ledger


def usage_ledger() -> UsageLedger:
    """The current app's usage ledger."""
    return cast(UsageLedger, current_app.extensions[_KEY])


def prices() -> Prices:
    """The current app's price table."""
    return cast(Prices, current_app.extensions[_PRICES])
