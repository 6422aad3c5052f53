"""The ResponseCache contract, run against both backends: SQLite and a real Redis."""

import time

import pytest

from chatgate.storage.redis import RedisBackend
from chatgate.storage.sqlite import SQLiteBackend


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "redis":
        return RedisBackend(request.getfixturevalue("redis_url")).response_cache(max_bytes=10_000)
    return SQLiteBackend(str(tmp_path / "cache.sqlite3")).response_cache(max_bytes=10_000)


def test_an_entry_comes_back_as_it_was_kept_with_when(store):
    before = time.time()
    body = b'{"id":"chatcmpl-1","choices":[]}\n\x00binary'
    store.land("caller:chat:abc", body, 60, leads=False)
    found, in_flight = store.join("caller:chat:abc", 10)
    assert found.body == body and before - 1 <= found.stored_at <= time.time() + 1
    assert in_flight == 0 and store.look("caller:chat:abc") == (found, 0)  # a hit joins no flight


def test_an_unknown_key_is_none_and_a_landing_replaces(store):
    assert store.look("nobody") == (None, 0)
    store.land("k", b"one", 60, leads=False)
    store.land("k", b"two", 60, leads=False)
    assert store.look("k")[0].body == b"two"


def test_identical_requests_join_one_flight_which_landing_ends(store):
    assert [store.join("q", 10)[1] for _ in range(3)] == [1, 2, 3]  # the first leads
    assert store.look("q") == (None, 3)
    store.land("q", None, 60, leads=False)  # a request that does not lead leaves the flight as it is
    assert store.look("q") == (None, 3)
    store.land("q", b"answer", 60, leads=True)
    found, in_flight = store.look("q")
    assert found.body == b"answer" and in_flight == 0
    store.land("r", None, 60, leads=True)  # a leader with nothing to keep: the next one leads afresh
    assert store.join("r", 10) == (None, 1)


def test_a_flight_whose_leader_never_landed_ends_by_itself(store):
    assert store.join("lost", 1)[1] == 1
    deadline = time.monotonic() + 5
    while store.look("lost")[1]:  # the flight's deadline is the storage's to keep: wait for it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert store.join("lost", 1)[1] == 1
