"""POST /chat/stream: SSE framing, usage, failures after the start, and closing the upstream."""

import threading

import pytest

from tests.support.sse import sse_json


def test_stream_sends_each_delta_then_done_with_usage(client, upstream):
    with upstream.behave(reply="Roses are red"):
        response = client.post("/chat/stream", json={"message": "Write a short poem", "model": "gpt-4o"})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert sse_json(response.data) == [
        {"content": "Roses"},
        {"content": " are"},
        {"content": " red"},
        {"done": True, "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}},
    ]


def test_stream_asks_the_upstream_for_usage(client, upstream):
    client.post("/chat/stream", json={"message": "hi"}).get_data()
    sent = upstream.last_chat_body()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "fault, error",
    [
        (dict(cut_after=2), "The upstream connection was cut in the middle of the reply."),
        (dict(end_early_after=2), "The upstream stream ended before the reply was finished."),
    ],
)
def test_failure_after_the_start_is_an_error_event_and_never_done(make_app, upstream, fault, error):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    upstream.queue(reply="one two three four", **fault)
    received = sse_json(client.post("/chat/stream", json={"message": "hi"}).data)
    assert received == [{"content": "one"}, {"content": " two"}, {"error": error}]


def test_upstream_that_stalls_mid_stream_is_a_timeout_event(client, upstream):
    release = threading.Event()
    upstream.queue(reply="one two", wait_for=release)  # holds the first word past the 1 s timeout
    try:
        received = sse_json(client.post("/chat/stream", json={"message": "hi"}).data)
    finally:
        release.set()
    assert received == [{"error": "The upstream stopped sending for more than 1 s."}]


def test_client_going_away_closes_the_upstream_stream(client, upstream):
    release = threading.Event()
    upstream.queue(reply="a b c d e f", wait_for=release)
    response = client.post("/chat/stream", json={"message": "hi"}, buffered=False)
    assert response.status_code == 200
    response.close()  # what the WSGI server does when the client disconnects
    release.set()
    assert upstream.stream_aborted.wait(5), "the upstream connection stayed open"
    assert upstream.finished_streams == 0
