"""The SessionStore contract, run against both backends: SQLite and a real Redis."""

import concurrent.futures
import time

import pytest

from chatgate.storage.redis import RedisBackend
from chatgate.storage.sqlite.sessions import SQLiteSessionStore


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    def build(ttl_seconds=3600, max_messages=100):
        if request.param == "redis":
            return RedisBackend(request.getfixturevalue("redis_url")).sessions(ttl_seconds, max_messages)
        return SQLiteSessionStore(str(tmp_path / "sessions.sqlite3"), ttl_seconds, max_messages)

    return build


@pytest.fixture
def store(make_store):
    return make_store()


def test_create_then_get(store):
    created = store.create("Be brief.")
    session = store.get(created.session_id)
    assert session.developer_message == "Be brief."
    assert session.messages == []
    assert session.created_at == pytest.approx(created.created_at)
    assert len(created.session_id) >= 20


def test_unknown_ids_are_none(store):
    assert store.get("no-such-session") is None
    assert store.delete("no-such-session") is False
    assert store.append_turn("no-such-session", "q", "a") is False


def test_turns_are_kept_in_order_as_pairs(store):
    session_id = store.create("dev").session_id
    assert store.append_turn(session_id, "q1", "a1")
    assert store.append_turn(session_id, "q2", "a2")
    assert store.get(session_id).messages == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]


def test_appending_updates_last_updated(store):
    created = store.create("dev")
    store.append_turn(created.session_id, "q", "a")
    assert store.get(created.session_id).last_updated >= created.last_updated


def test_delete_removes_everything(store):
    session_id = store.create("dev").session_id
    store.append_turn(session_id, "q", "a")
    assert store.delete(session_id) is True
    assert store.get(session_id) is None
    assert store.append_turn(session_id, "q", "a") is False


@pytest.mark.parametrize("max_messages, kept", [(4, 4), (5, 4), (1, 2)])
def test_history_is_capped_by_whole_turns_keeping_the_developer_message(make_store, max_messages, kept):
    store = make_store(max_messages=max_messages)
    session_id = store.create("dev").session_id
    for n in range(5):
        store.append_turn(session_id, f"q{n}", f"a{n}")
    session = store.get(session_id)
    assert len(session.messages) == kept
    assert session.messages[-2:] == [{"role": "user", "content": "q4"}, {"role": "assistant", "content": "a4"}]
    assert session.messages[0]["role"] == "user"
    assert session.developer_message == "dev"


def test_sessions_expire_after_the_ttl_of_inactivity(make_store):
    store = make_store(ttl_seconds=1)
    session_id = store.create("dev").session_id
    deadline = time.monotonic() + 10
    while store.get(session_id) is not None:  # polled against a deadline: expiry is the store's job
        assert time.monotonic() < deadline, "the session never expired"
        time.sleep(0.05)
    assert store.active_count() == 0
    assert store.append_turn(session_id, "q", "a") is False


def test_active_count_counts_live_sessions(store):
    before = store.active_count()
    ids = [store.create("dev").session_id for _ in range(3)]
    assert store.active_count() == before + 3
    store.delete(ids[0])
    assert store.active_count() == before + 2


def test_concurrent_turns_on_one_session_lose_nothing(store):
    session_id = store.create("dev").session_id

    def turn(n):
        return store.append_turn(session_id, f"question {n}", f"answer {n}")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert all(pool.map(turn, range(40)))
    messages = store.get(session_id).messages
    assert len(messages) == 80
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert question["role"] == "user" and answer["role"] == "assistant"
        assert answer["content"] == question["content"].replace("question", "answer")


def test_sqlite_sessions_survive_a_restart(tmp_path):
    path = str(tmp_path / "s.sqlite3")
    session_id = SQLiteSessionStore(path, 3600, 100).create("dev").session_id
    SQLiteSessionStore(path, 3600, 100).append_turn(session_id, "q", "a")
    assert len(SQLiteSessionStore(path, 3600, 100).get(session_id).messages) == 2
