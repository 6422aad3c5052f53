"""Resumable streams across real processes: drop on one instance, resume or stop on another (Redis), and across
the workers of one instance (SQLite)."""

import http.client
import json
import threading

import pytest

from tests.support.processes import gunicorn, service_env
from tests.support.sse import sse_numbered

REPLY = "a reply that is read in two parts on two instances"


def _start(port: int, path: str, body: dict):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", "X-Resumable": "true"}
    )
    return connection, connection.getresponse()


def _resume(port: int, stream_id: str, query: str = "", headers: dict | None = None) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", f"/streams/{stream_id}{query}", headers=headers or {})
    response = connection.getresponse()
    assert response.status == 200
    body = response.read()
    connection.close()
    return body


@pytest.fixture
def two_instances(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, REDIS_URL=redis_url)
    with gunicorn(tmp_path, env) as first, gunicorn(tmp_path, env) as second:
        yield first, second


def test_dropped_on_one_instance_resumed_on_another(two_instances, upstream):
    first, second = two_instances
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=3):
        connection, response = _start(first.port, "/chat/stream", {"message": "hi"})
        stream_id = response.getheader("X-Stream-ID")
        part = b""
        while part.count(b"\n\n") < 3:
            part += response.read1(65536)
        connection.close()  # the phone lost its Wi-Fi
        release.set()
        rest = _resume(second.port, stream_id, headers={"Last-Event-ID": str(len(sse_numbered(part)))})
    events = sse_numbered(part) + sse_numbered(rest)
    assert [n for n, _ in events] == list(range(1, len(events) + 1))
    assert "".join(e.get("content", "") for _, e in events) == REPLY and events[-1][1]["done"] is True


def test_a_text_stream_resumes_by_offset_on_another_instance(two_instances, upstream):
    first, second = two_instances
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=2):
        connection, response = _start(first.port, "/ask", {"messages": [{"role": "user", "content": "x"}]})
        stream_id = response.getheader("X-Stream-ID")
        part = response.read1(65536)
        connection.close()
        release.set()
        rest = _resume(second.port, stream_id, f"?offset={len(part)}")
    assert (part + rest).decode() == REPLY


def test_stopped_from_the_other_instance(two_instances, upstream):
    first, second = two_instances
    release = threading.Event()
    with upstream.behave(reply=REPLY, wait_for=release, hold_after=1):
        connection, response = _start(first.port, "/chat/stream", {"message": "hi"})
        response.read1(65536)
        stop = http.client.HTTPConnection("127.0.0.1", second.port, timeout=30)
        stop.request("DELETE", f"/streams/{response.getheader('X-Stream-ID')}")
        assert json.loads(stop.getresponse().read())["stopped"] is True
        assert upstream.stream_aborted.wait(5)  # the upstream saw its stream closed
        release.set()
        connection.close()


def test_resumed_on_another_worker_of_one_instance_on_sqlite(upstream, tmp_path):
    release = threading.Event()
    with (
        upstream.behave(reply=REPLY, wait_for=release, hold_after=2),
        gunicorn(tmp_path, service_env(upstream.base_url), "--workers", "2") as server,
    ):
        connection, response = _start(server.port, "/chat/stream", {"message": "hi"})
        stream_id = response.getheader("X-Stream-ID")
        part = b""
        while part.count(b"\n\n") < 2:
            part += response.read1(65536)
        connection.close()
        release.set()
        rests = [_resume(server.port, stream_id, "?last_event_id=2") for _ in range(4)]  # whichever worker answers
    for rest in rests:
        events = sse_numbered(part) + sse_numbered(rest)
        assert "".join(e.get("content", "") for _, e in events) == REPLY
