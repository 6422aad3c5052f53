"""A settlement that storage cannot take (the answer has gone already) is lost in one log line that says what was
lost, for the budget it was."""

import logging
import sqlite3

from chatgate.guard.rate_limits import settle


class DownStorage:
    def settle(self, key, expiry, reserved, spent, window_ends, what):
        raise sqlite3.OperationalError("database is locked")


def test_a_lost_settlement_is_said_with_its_budget_amounts_and_key(caplog):
    with caplog.at_level(logging.WARNING):
        settle(DownStorage(), ("budget:token:ci", 60, 1200, 1_800_000_000.0), 345, "token budget")
    assert [record.getMessage() for record in caplog.records] == [
        "storage unavailable, not recorded: token budget settlement of 345 spent against 1200 reserved on "
        "budget:token:ci (OperationalError: database is locked)"
    ]
