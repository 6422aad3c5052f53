"""The SQLite rings (the recent calls, the audit lines): the newest read first, and the table kept near its bound
though a ring is trimmed only every TRIM_EVERY additions."""

import sqlite3

from chatgate.storage.sqlite.rings import TRIM_EVERY, SQLiteRings


def test_a_ring_reads_its_newest_and_stays_within_its_bound(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    rings = SQLiteRings(path)
    rings.add("audit", {"n": "first"}, 10)
    for number in range(5 * TRIM_EVERY):
        rings.add("calls", {"n": number}, 10)
    assert [record["n"] for record in rings.latest("calls", 10)] == list(
        range(5 * TRIM_EVERY - 1, 5 * TRIM_EVERY - 11, -1)
    )
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT COUNT(*) FROM rings WHERE ring = 'calls'").fetchone()[0]
    assert 10 <= kept <= 10 + TRIM_EVERY
    assert rings.latest("audit", 10) == [{"n": "first"}]  # another ring's trimming leaves it alone
