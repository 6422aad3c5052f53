"""The usage ledger writes every call as it ends, and holds calls in memory while storage is down."""

import sqlite3

import pytest

from chatgate.guard.usage_ledger import UsageLedger
from chatgate.storage.sqlite.ledger import SQLiteLedger

USAGE = {"prompt_tokens": 2, "cached_prompt_tokens": 0, "completion_tokens": 3}


def calls(totals: dict) -> int:
    return totals.get("ip:1", {}).get("gpt-4o-mini", {}).get("calls", 0)


def test_every_call_is_written_as_it_is_recorded(tmp_path):
    store = SQLiteLedger(str(tmp_path / "usage.sqlite3"))
    ledger = UsageLedger(store)
    for expected in (1, 2, 3):
        ledger.record("ip:1", "gpt-4o-mini", USAGE, estimated=expected == 3)
        assert calls(store.totals()) == expected  # on file, not in this process's memory
    assert store.totals()["ip:1"]["gpt-4o-mini"] == {
        "prompt_tokens": 6,
        "cached_prompt_tokens": 0,
        "completion_tokens": 9,
        "total_tokens": 15,
        "calls": 3,
        "estimated_calls": 1,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
    }


def test_usage_is_held_while_storage_is_down_and_written_when_it_is_back(tmp_path):
    ledger = UsageLedger(SQLiteLedger(str(tmp_path / "not-yet" / "usage.sqlite3")))
    for _ in range(2):
        with pytest.raises(sqlite3.OperationalError):
            ledger.record("ip:1", "gpt-4o-mini", USAGE, False)  # the folder is not there
    (tmp_path / "not-yet").mkdir()
    ledger.record("ip:1", "gpt-4o-mini", USAGE, False)
    assert calls(ledger.store.totals()) == 3


def test_a_file_from_before_the_cache_gains_its_columns_and_keeps_its_sums(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    old_columns = "prompt_tokens, cached_prompt_tokens, completion_tokens, total_tokens, calls, estimated_calls"
    typed = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in old_columns.split(", "))
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TABLE usage (caller TEXT NOT NULL, model TEXT NOT NULL, {typed}, PRIMARY KEY (caller, model))"
        )
        db.execute(
            f"CREATE TABLE usage_hours (caller TEXT NOT NULL, model TEXT NOT NULL, hour INTEGER NOT NULL, {typed}, "
            "PRIMARY KEY (hour, caller, model))"
        )
        db.execute(f"INSERT INTO usage (caller, model, {old_columns}) VALUES ('ip:1', 'gpt-4o-mini', 2, 0, 3, 5, 1, 0)")
    ledger = UsageLedger(SQLiteLedger(path))
    ledger.record_hit("ip:1", "gpt-4o-mini", {"prompt_tokens": 2, "completion_tokens": 3})
    sums = ledger.totals()["ip:1"]["gpt-4o-mini"]
    assert (sums["calls"], sums["total_tokens"], sums["cache_hits"]) == (1, 5, 1)
    assert (sums["saved_prompt_tokens"], sums["saved_completion_tokens"]) == (2, 3)
    hours = ledger.hours(0, 2**40)
    assert [models["ip:1"]["gpt-4o-mini"]["cache_hits"] for models in hours.values()] == [1]
