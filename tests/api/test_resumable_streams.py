"""Resumable streams in one process: drop, resume from where it was left, stop, abandon, only its caller."""

import threading
import time

import pytest

from tests.support.keys import client_key, secret
from tests.support.sse import sse_numbered

RESUMABLE = {"X-Resumable": "true"}
REPLY = "one two three four five six"


def take(response, count: int) -> list[bytes]:
    chunks = iter(response.response)
    return [next(chunks) for _ in range(count)]


def wait_until(predicate, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_dropped_sse_stream_resumes_after_its_last_event(client, upstream):
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=2):
        first = client.post("/chat/stream", json={"message": "hi"}, headers=RESUMABLE, buffered=False)
        stream_id = first.headers["X-Stream-ID"]
        before = take(first, 2)
        first.close()  # the connection drops
        release.set()
        resumed = client.get(f"/streams/{stream_id}", headers={"Last-Event-ID": "2"})
        after = resumed.get_data()
    events = sse_numbered(b"".join(before)) + sse_numbered(after)
    assert [number for number, _ in events] == list(range(1, len(events) + 1))  # no gap, no duplicate
    assert "".join(e.get("content", "") for _, e in events) == REPLY
    assert events[-1][1]["done"] is True
    assert client.get("/usage").get_json()["usage"]["gpt-4o-mini"]["calls"] == 1  # billed once


def test_the_whole_stream_can_be_read_again_until_retention_ends(client, upstream):
    done = client.post(
        "/v1/chat/completions",
        headers=RESUMABLE,
        json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    first = done.get_data()
    again = client.get(f"/streams/{done.headers['X-Stream-ID']}", query_string={"last_event_id": 0}).get_data()
    assert again == first and first.endswith(b"data: [DONE]\n\n") and first.startswith(b"id: 1\ndata: {")


def test_a_text_stream_resumes_from_a_byte_offset(client, upstream):
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=2):
        first = client.post(
            "/ask", json={"messages": [{"role": "user", "content": "x"}]}, headers=RESUMABLE, buffered=False
        )
        received = b"".join(take(first, 2))
        first.close()
        release.set()
        rest = client.get(f"/streams/{first.headers['X-Stream-ID']}", query_string={"offset": len(received) - 2})
    assert (received[:-2] + rest.get_data()).decode() == REPLY


def test_stop_closes_the_upstream_at_once(client, upstream):
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=1):
        first = client.post("/chat/stream", json={"message": "hi"}, headers=RESUMABLE, buffered=False)
        take(first, 1)
        stopped = client.delete(f"/streams/{first.headers['X-Stream-ID']}")
        assert stopped.get_json() == {"id": first.headers["X-Stream-ID"], "stopped": True}
        assert upstream.stream_aborted.wait(5)
        release.set()
        first.close()


def test_an_abandoned_stream_goes_on_for_the_window_then_stops(make_app, upstream, caplog):
    client = make_app(stream_resume_window=0.3, upstream_timeout=10).test_client()
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=1):
        first = client.post("/chat/stream", json={"message": "hi"}, headers=RESUMABLE, buffered=False)
        take(first, 1)
        first.close()
        assert not upstream.stream_aborted.is_set()  # still generating while a reader may come back
        assert upstream.stream_aborted.wait(10)  # nobody came back: closed after the window
        release.set()
    assert wait_until(lambda: any(getattr(r, "fields", {}).get("outcome") == "abandoned" for r in caplog.records))
    usage = client.get("/usage").get_json()["usage"]["gpt-4o-mini"]
    assert usage["calls"] == 1 and usage["estimated_calls"] == 1  # the usage so far, once


def test_only_its_caller_sees_or_stops_a_stream(make_app, upstream):
    a, b = secret("tok-ra-" + "1" * 30), secret("tok-rb-" + "2" * 30)
    client = make_app(api_tokens=(a, b)).test_client()
    made = client.post("/chat/stream", json={"message": "hi"}, headers={**RESUMABLE, "X-API-Key": a})
    made.get_data()
    stream = f"/streams/{made.headers['X-Stream-ID']}"
    assert client.get(stream, headers={"X-API-Key": b}).status_code == 404
    assert client.delete(stream, headers={"X-API-Key": b}).status_code == 404
    assert client.get(stream, headers={"X-API-Key": a}).status_code == 200


@pytest.mark.parametrize(
    "path, body, query",
    [
        ("/ask", {"messages": [{"role": "user", "content": "x"}]}, "?offset=-1"),
        ("/chat/stream", {"message": "hi"}, "?last_event_id=x"),
    ],
)
def test_bad_positions_are_400(client, upstream, path, body, query):
    made = client.post(path, json=body, headers=RESUMABLE)
    made.get_data()
    assert client.get(f"/streams/{made.headers['X-Stream-ID']}{query}").status_code == 400


def test_every_stream_is_resumable_with_always(make_app, upstream):
    plain = make_app(resumable_streams="always").test_client().post("/chat/stream", json={"message": "hi"})
    assert plain.headers["X-Stream-ID"] and plain.get_data().startswith(b"id: 1\n")
    assert "X-Stream-ID" not in make_app().test_client().post("/chat/stream", json={"message": "hi"}).headers


def test_a_resumable_streams_generation_holds_its_callers_slot_until_it_ends(make_app, upstream):
    client = make_app(max_concurrent_per_caller=2, upstream_timeout=10).test_client()
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=1):
        left = []
        for _ in range(2):
            stream = client.post("/chat/stream", json={"message": "hi"}, headers=RESUMABLE, buffered=False)
            take(stream, 1)
            stream.close()  # the client leaves at once; generation goes on for the resume window
            left.append(stream.status_code)
        refused = client.post("/chat/stream", json={"message": "hi"}, headers=RESUMABLE)
        assert upstream.wait_for_open_streams(2, timeout=5)
        release.set()
    assert left == [200, 200]
    assert refused.status_code == 429 and "MAX_CONCURRENT_PER_CALLER" in refused.get_json()["error"]
    assert len(upstream.chat_requests()) == 2  # the third never went upstream
    assert wait_until(lambda: client.post("/chat", json={"message": "hi"}).status_code == 200)  # slots came back


def test_a_resumable_session_chat_belongs_to_the_key_that_made_it(client, upstream):
    key_a, key_b = client_key(), client_key()
    made = client.post(
        "/api/chat",
        json={"developer_message": "d", "user_message": "hi", "api_key": key_a},
        headers=RESUMABLE,
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    made.get_data()
    stream = f"/streams/{made.headers['X-Stream-ID']}"
    elsewhere = {"REMOTE_ADDR": "10.0.0.9"}
    assert client.get(stream, headers={"X-OpenAI-Key": key_a}, environ_base=elsewhere).status_code == 200
    assert client.get(stream, headers={"X-OpenAI-Key": key_b}, environ_base=elsewhere).status_code == 404
    assert client.get(stream, environ_base=elsewhere).status_code == 404
    assert client.get(stream, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
