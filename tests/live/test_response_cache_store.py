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


def test_an_entry_comes_back_as_it_was_put_with_when(store):
    before = time.time()
    body = b'{"id":"chatcmpl-1","choices":[]}\n\x00binary'
    store.put("caller:chat:abc", body, 60)
    found = store.get("caller:chat:abc")
    assert found.body == body and before - 1 <= found.stored_at <= time.time() + 1


def test_an_unknown_key_is_none_and_a_put_replaces(store):
    assert store.get("nobody") is None
    store.put("k", b"one", 60)
    store.put("k", b"two", 60)
    assert store.get("k").body == b"two"
