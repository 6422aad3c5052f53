"""The usage ledger sums calls in memory and writes them in batches, keeping them while storage is down."""

import sqlite3
import time

import pytest

from guard.usage_ledger import SQLiteLedger, UsageLedger

USAGE = {"prompt_tokens": 2, "completion_tokens": 3}


def calls(totals: dict) -> int:
    return totals.get("ip:1", {}).get("gpt-4o-mini", {}).get("calls", 0)


def test_calls_within_an_interval_are_written_together(tmp_path):
    store = SQLiteLedger(str(tmp_path / "usage.sqlite3"))
    ledger = UsageLedger(store, interval=3600)
    for _ in range(5):
        ledger.record("ip:1", "gpt-4o-mini", USAGE, False)
    assert calls(store.totals()) == 1  # the first at once; the others wait for the interval
    totals = ledger.totals()  # reading writes what this worker holds first
    assert totals["ip:1"]["gpt-4o-mini"] == {"prompt_tokens": 10, "completion_tokens": 15, "total_tokens": 25,
                                            "calls": 5, "estimated_calls": 0}
    assert calls(store.totals()) == 5


def test_what_the_last_calls_leave_is_written_one_interval_later(tmp_path):
    store = SQLiteLedger(str(tmp_path / "usage.sqlite3"))
    ledger = UsageLedger(store, interval=0.05)
    for _ in range(3):
        ledger.record("ip:1", "gpt-4o-mini", USAGE, True)
    deadline = time.monotonic() + 10
    while calls(store.totals()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.totals()["ip:1"]["gpt-4o-mini"]["estimated_calls"] == 3


def test_usage_is_held_while_storage_is_down_and_written_when_it_is_back(tmp_path):
    ledger = UsageLedger(SQLiteLedger(str(tmp_path / "not-yet" / "usage.sqlite3")), interval=3600)
    with pytest.raises(sqlite3.OperationalError):
        ledger.record("ip:1", "gpt-4o-mini", USAGE, False)  # due at once, and the folder is not there
    ledger.record("ip:1", "gpt-4o-mini", USAGE, False)
    (tmp_path / "not-yet").mkdir()
    assert calls(ledger.totals()) == 2


def test_with_no_interval_every_call_is_written_at_once(tmp_path):
    store = SQLiteLedger(str(tmp_path / "usage.sqlite3"))
    ledger = UsageLedger(store, interval=0)
    for expected in (1, 2, 3):
        ledger.record("ip:1", "gpt-4o-mini", USAGE, False)
        assert calls(store.totals()) == expected
