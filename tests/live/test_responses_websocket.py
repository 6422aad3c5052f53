"""The Responses API's WebSocket mode on /v1/responses, under gunicorn's gevent workers: the official SDK's
`client.responses.connect()` and a plain WebSocket client, against the fake upstream."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.processes import gunicorn, service_env

TOKEN = "tok-websocket-" + "w" * 24
ADMIN = "tok-admin-" + "a" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 10  # seconds any one step may take before the test fails


@pytest.fixture(scope="module")
def server(fake_upstream, tmp_path_factory):
    env = service_env(
        fake_upstream.base_url,
        API_TOKENS=TOKEN,
        ADMIN_TOKENS=ADMIN,
        TOKEN_LIMIT="60/hour",
        ALLOW_ORIGINS="https://app.example",
    )
    with gunicorn(tmp_path_factory.mktemp("websocket"), env, "--workers", "2") as live:
        yield live


def socket_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/responses"


def create(**fields) -> str:
    return json.dumps({"type": "response.create", "model": "gpt-4o-mini", "max_output_tokens": 5, **fields})


def events_until_done(connection) -> list[dict]:
    """Every event of one response, to its completion or its error."""
    seen = []
    while True:
        event = json.loads(connection.recv(timeout=WAIT))
        seen.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return seen


def test_the_sdk_sends_two_responses_on_one_connection(server, upstream):
    sdk = server.openai_sdk(api_key=TOKEN)
    with sdk.responses.connect() as connection:
        for words in ("one two", "three"):
            with upstream.behave(reply=words):
                connection.response.create(model="gpt-4o-mini", input=f"Say {words}", max_output_tokens=5)
                seen = []
                for event in connection:
                    seen.append(event)
                    if event.type == "response.completed":
                        break
            assert seen[0].type == "response.created" and seen[-1].response.output_text == words
            assert [e.sequence_number for e in seen] == sorted(e.sequence_number for e in seen)
    bodies = [r.body for r in upstream.requests_to("POST", "/responses")]
    assert [b["input"] for b in bodies] == ["Say one two", "Say three"]
    # Each response is a call of its own in the recent calls; the connection itself is none.
    calls = recent_calls(server, wanted=2)
    assert [(c["surface"], c["stream"], c["status"], c["ended"]) for c in calls] == [
        ("/v1/responses", True, 200, "finished")
    ] * 2
    assert [c["completion_tokens"] for c in calls] == [1, 2]
    assert all(b["stream"] is True for b in bodies)
    assert upstream.requests_to("POST", "/responses")[0].headers["Authorization"] != f"Bearer {TOKEN}"


def admin(server, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"X-API-Key": ADMIN, "Content-Type": "application/json"}
    request = urllib.request.Request(f"{server.url}{path}", data=data, headers=headers, method=method)
    return json.loads(urllib.request.urlopen(request, timeout=WAIT).read())


def test_a_token_revoked_while_its_connection_is_open_takes_no_new_response(server, upstream):
    token = admin(server, "POST", "/admin/api/tokens", {"name": "websocket-agent"})["token"]
    with connect(socket_url(server), additional_headers={"Authorization": f"Bearer {token}"}) as connection:
        connection.send(create(input="before"))
        assert events_until_done(connection)[-1]["type"] == "response.completed"
        admin(server, "DELETE", "/admin/api/tokens/websocket-agent")
        answered, deadline = [], time.monotonic() + WAIT  # a worker's copy of the stored tokens may be a second old
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < deadline:
                connection.send(create(input="after"))
                answered.append(events_until_done(connection)[-1])
    assert answered[-1]["type"] == "error" and answered[-1]["status"] == 401
    assert connection.close_code == 1008


def recent_calls(server, wanted: int) -> list[dict]:
    """The admin page's recent calls, once `wanted` are there (the connection's are written as it closes)."""
    deadline = time.monotonic() + WAIT
    while True:
        request = urllib.request.Request(f"{server.url}/admin/api/calls", headers={"X-API-Key": ADMIN})
        calls = json.loads(urllib.request.urlopen(request, timeout=WAIT).read())["calls"]
        if len(calls) >= wanted or time.monotonic() > deadline:
            return calls
        time.sleep(0.05)


@pytest.mark.parametrize(
    "headers, status",
    [({}, 401), ({"Authorization": "Bearer tok-not-a-token"}, 401), ({**AUTH, "Origin": "https://evil.example"}, 403)],
)
def test_a_refused_upgrade_is_an_http_error_and_no_connection(server, upstream, headers, status):
    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url(server), additional_headers=headers, open_timeout=WAIT)
    assert refused.value.response.status_code == status
    assert "error" in json.loads(refused.value.response.body)
    assert upstream.requests == []


def test_an_allowed_browser_origin_is_let_in(server, upstream):
    with connect(socket_url(server), additional_headers={**AUTH, "Origin": "https://app.example"}) as connection:
        connection.send(create(input="hi"))
        assert events_until_done(connection)[-1]["type"] == "response.completed"


def test_the_token_budget_refuses_the_second_response_in_the_modes_error_shape(server, upstream):
    with connect(socket_url(server), additional_headers=AUTH) as connection:
        connection.send(create(input="hi", max_output_tokens=20))
        assert events_until_done(connection)[-1]["type"] == "response.completed"
        connection.send(create(input="hi again", max_output_tokens=55))
        refusal = events_until_done(connection)
    assert len(refusal) == 1
    assert refusal[0]["status"] == 429 and refusal[0]["error"]["type"] == "rate_limit_error"
    assert "token" in refusal[0]["error"]["message"].lower()
    assert len(upstream.requests_to("POST", "/responses")) == 1


def test_a_bad_event_is_an_error_event_and_the_connection_goes_on(server, upstream):
    with connect(socket_url(server), additional_headers=AUTH) as connection:
        connection.send(json.dumps({"type": "response.processed", "response_id": "resp_1"}))  # wants no answer
        bad_events = ("not json", json.dumps({"type": "session.update"}), create(temperature=9))
        for bad in (*bad_events, create(background=True), create(stream_id="second")):
            connection.send(bad)
            error = json.loads(connection.recv(timeout=WAIT))
            assert error["type"] == "error" and error["status"] == 400, error
        connection.send(create(input="still here"))
        assert events_until_done(connection)[-1]["type"] == "response.completed"
    assert len(upstream.requests_to("POST", "/responses")) == 1


def test_a_client_that_leaves_mid_response_ends_the_upstream_call(server, upstream):
    release = threading.Event()
    with upstream.behave(reply="one two three", wait_for=release, hold_after=1):
        with connect(socket_url(server), additional_headers=AUTH) as connection:
            connection.send(create(input="Count"))
            while json.loads(connection.recv(timeout=WAIT))["type"] != "response.output_text.delta":
                pass
        assert upstream.stream_aborted.wait(WAIT)  # the service closed its upstream stream
    release.set()


@pytest.fixture(scope="module")
def one_worker(fake_upstream, tmp_path_factory):
    """The in-flight cap is per worker process: one worker holds both connections."""
    env = service_env(fake_upstream.base_url, MAX_CONCURRENT_PER_CALLER="1")
    with gunicorn(tmp_path_factory.mktemp("websocket-one"), env, "--workers", "1") as live:
        yield live


def test_each_open_response_takes_a_slot_of_the_callers_in_flight_cap(one_worker, upstream):
    release = threading.Event()
    first, second = (connect(socket_url(one_worker)) for _ in range(2))  # connections hold no slot
    with first, second, upstream.behave(wait_for=release):
        first.send(create(input="long"))
        assert upstream.wait_for_open_streams(1, WAIT)
        second.send(create(input="meanwhile"))
        refused = json.loads(second.recv(timeout=WAIT))
        release.set()
        assert events_until_done(first)[-1]["type"] == "response.completed"
        second.send(create(input="now"))  # the slot is free again
        assert events_until_done(second)[-1]["type"] == "response.completed"
    assert refused["status"] == 429 and "in flight" in refused["error"]["message"]


def test_an_unstored_response_is_built_on_by_its_id_within_the_connection(server, upstream):
    with connect(socket_url(server), additional_headers=AUTH) as connection:
        connection.send(create(input="first", store=False, generate=False))  # a warm-up: no call
        warm = events_until_done(connection)[-1]["response"]
        connection.send(create(input="second", store=False, previous_response_id=warm["id"]))
        answer = events_until_done(connection)[-1]["response"]
        connection.send(
            create(input=[{"role": "user", "content": "third"}], store=False, previous_response_id=answer["id"])
        )
        events_until_done(connection)
        connection.send(create(input="fourth", store=False, previous_response_id=warm["id"]))  # not the last
        stale = events_until_done(connection)
    bodies = [r.body for r in upstream.requests_to("POST", "/responses")]
    assert len(bodies) == 2 and all("previous_response_id" not in b for b in bodies)
    user = lambda text: {"type": "message", "role": "user", "content": text}  # noqa: E731
    assert bodies[0]["input"] == [user("first"), user("second")]
    assert bodies[1]["input"][:2] == [user("first"), user("second")]
    assert bodies[1]["input"][2]["type"] == "message" and bodies[1]["input"][2]["role"] == "assistant"
    assert bodies[1]["input"][3] == {"role": "user", "content": "third"}
    assert stale[-1]["status"] == 404 and stale[-1]["error"]["code"] == "previous_response_not_found"


@pytest.fixture(scope="module")
def short_lived(fake_upstream, tmp_path_factory):
    env = service_env(
        fake_upstream.base_url, WEBSOCKET_IDLE_SECONDS="0.5", WEBSOCKET_MAX_SECONDS="2", MAX_REQUEST_BYTES="100000"
    )
    with gunicorn(tmp_path_factory.mktemp("websocket-short"), env) as live:
        yield live


def test_an_idle_connection_is_closed(short_lived, upstream):
    with connect(socket_url(short_lived)) as connection:
        with pytest.raises(ConnectionClosed):
            connection.recv(timeout=WAIT)
    assert connection.close_code == 1000 and "idle" in connection.close_reason


def test_a_connection_past_its_lifetime_says_so_and_closes(short_lived, upstream):
    seen = []
    with connect(socket_url(short_lived)) as connection:
        connection.send(create(input="hi"))
        with pytest.raises(ConnectionClosed):
            while True:  # a response well within the idle limit each time, until the lifetime is over
                seen.append(json.loads(connection.recv(timeout=WAIT)))
                if seen[-1]["type"] == "response.completed":
                    with contextlib.suppress(ConnectionClosed):  # closed meanwhile: its last words are still read
                        connection.send(create(input="hi"))
    ends = [event for event in seen if event["type"] in ("response.completed", "error")]
    assert ends[-1]["type"] == "error" and ends[-1]["error"]["code"] == "websocket_connection_limit_reached"
    assert all(event["type"] == "response.completed" for event in ends[:-1]) and len(ends) > 1


def test_a_message_over_the_size_limit_closes_the_connection(short_lived, upstream):
    with connect(socket_url(short_lived), max_size=None) as connection:
        connection.send(create(input="x" * 200_000))
        with pytest.raises(ConnectionClosed):
            connection.recv(timeout=WAIT)
    assert connection.close_code == 1009
    assert upstream.requests == []


def test_a_server_that_stops_closes_its_idle_connections_at_once(fake_upstream, upstream, tmp_path):
    with gunicorn(tmp_path, service_env(fake_upstream.base_url, GRACEFUL_TIMEOUT="60"), "--workers", "1") as server:
        with connect(socket_url(server)) as connection:
            connection.send(create(input="hi"))
            assert events_until_done(connection)[-1]["type"] == "response.completed"
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                connection.recv(timeout=WAIT)  # not the 60 s of GRACEFUL_TIMEOUT, nor the idle limit
        server.process.wait(timeout=WAIT)
    assert connection.close_code == 1001 and "restarting" in connection.close_reason
    assert server.process.returncode == 0
