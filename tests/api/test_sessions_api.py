"""The /api surface (Sessions): sessions, streamed chat, key checks, FastAPI's error shapes."""

import datetime
import threading

import pytest

from chatgate.models import MODELS
from tests.support.keys import client_key

CHAT = {"developer_message": "You are a helpful assistant.", "user_message": "Hello, how are you?"}


def iso(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


def chat(client, **changes):
    return client.post("/api/chat", json={**CHAT, **changes})


def test_create_get_delete(client):
    created = client.post("/api/sessions", json={"developer_message": "Be brief."})
    assert created.status_code == 200
    body = created.get_json()
    assert body["message"] == "Session created successfully"
    iso(body["created_at"])
    info = client.get(f"/api/sessions/{body['session_id']}").get_json()
    assert set(info) == {"session_id", "developer_message", "message_count", "created_at", "last_updated"}
    assert info["developer_message"] == "Be brief." and info["message_count"] == 0
    assert client.delete(f"/api/sessions/{body['session_id']}").get_json() == {
        "message": "Session deleted successfully"
    }
    gone = client.get(f"/api/sessions/{body['session_id']}")
    assert (gone.status_code, gone.get_json()) == (404, {"detail": "Session not found"})
    again = client.delete(f"/api/sessions/{body['session_id']}")
    assert (again.status_code, again.get_json()) == (404, {"detail": "Session not found"})


def test_chat_streams_text_and_makes_a_session(client, upstream):
    with upstream.behave(reply="I am fine"):
        response = chat(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True) == "I am fine"
    session_id = response.headers["X-Session-ID"]
    assert response.headers["X-RateLimit-Limit"] == "10000"
    assert response.headers["X-RateLimit-Remaining"] == "9999"
    assert upstream.last_chat_body()["messages"] == [
        {"role": "system", "content": CHAT["developer_message"]},
        {"role": "user", "content": CHAT["user_message"]},
    ]
    assert client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 2


def test_the_session_carries_the_conversation(client, upstream):
    with upstream.behave(reply="first reply"):
        first = chat(client, user_message="first")
        assert first.get_data(as_text=True) == "first reply"  # the turn is stored once the reply is read
        session_id = first.headers["X-Session-ID"]
    response = chat(client, user_message="second", session_id=session_id, developer_message="Now be terse.")
    assert response.headers["X-Session-ID"] == session_id
    response.get_data()
    assert upstream.last_chat_body()["messages"] == [
        {"role": "system", "content": "Now be terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "first reply"},
        {"role": "user", "content": "second"},
    ]
    assert client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 4


def test_an_unknown_session_id_starts_a_new_session(client):
    response = chat(client, session_id="does-not-exist")
    assert response.status_code == 200
    assert response.headers["X-Session-ID"] != "does-not-exist"
    assert client.get(f"/api/sessions/{response.headers['X-Session-ID']}").status_code == 200


def test_cors_exposes_the_session_and_limit_headers(make_app):
    client = make_app(rate_limit="5/minute", token_limit="100000/day", spend_limit="5/day").test_client()
    response = client.post("/api/chat", json=CHAT, headers={"Origin": "http://localhost:3000"})
    exposed = set(response.headers["Access-Control-Expose-Headers"].split(", "))
    limits = {name for name in response.headers.keys() if name.startswith("X-RateLimit-")}
    assert len(limits) == 9 and limits <= exposed  # requests, tokens and spend: limit, remaining, reset
    assert {"X-Session-ID", "X-Fallback-Model", "Retry-After"} <= exposed


def test_our_own_rate_limit_replaces_the_upstreams_figures(make_app):
    response = make_app(rate_limit="5/minute").test_client().post("/api/chat", json=CHAT)
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_a_client_that_leaves_mid_stream_leaves_the_session_as_it_was(client, upstream):
    session_id = client.post("/api/sessions", json={}).get_json()["session_id"]
    gate = threading.Event()
    with upstream.behave(reply="a b c d", wait_for=gate):
        response = client.post("/api/chat", json={**CHAT, "session_id": session_id}, buffered=False)
        response.close()  # the client goes away before the reply is finished
        gate.set()
    assert upstream.stream_aborted.wait(10)
    assert client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 0


def test_a_failure_mid_stream_stores_nothing(make_app, upstream):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    session_id = client.post("/api/sessions", json={}).get_json()["session_id"]
    upstream.queue(cut_after=2, reply="a b c d")
    response = chat(client, session_id=session_id)
    assert response.get_data(as_text=True).endswith(
        "[error: The upstream connection was cut in the middle of the reply.]"
    )
    assert client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 0


def test_a_client_key_is_used_and_never_stored(settings, client, upstream):
    key = client_key()
    response = chat(client, api_key=key)
    assert upstream.chat_requests()[-1].headers["Authorization"] == f"Bearer {key}"
    store_file = settings.db_path
    for path in (store_file, store_file + "-wal"):
        try:
            assert key.encode() not in open(path, "rb").read()
        except FileNotFoundError:
            pass
    assert response.status_code == 200


def test_without_a_key_the_server_key_is_used(client, upstream):
    chat(client)
    assert upstream.chat_requests()[-1].headers["Authorization"].startswith("Bearer sk-server-")


@pytest.fixture
def checking_client(make_app):
    """An app that checks client keys against OpenAI's shapes, as it does in front of OpenAI itself."""
    return make_app(client_key_format="openai").test_client()


@pytest.mark.parametrize(
    "key, accepted",
    [
        (client_key("sk-proj-", 164), True),
        (client_key("sk-svcacct-", 120), True),
        (client_key("sk-", 51), True),
        (client_key("sk-admin-", 90), True),
        ("sk-proj-short", False),
        ("pk-" + "a" * 48, False),
        ("sk-proj-" + "a" * 40 + "!", False),
        ("sk-proj-" + "a" * 40 + " b", False),
        ("", False),
    ],
)
def test_key_format_table(checking_client, upstream, key, accepted):
    response = checking_client.post("/api/chat", json={**CHAT, "api_key": key})
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.get_json()["detail"].startswith("Invalid API Key format. The key should start with 'sk-'")
        assert upstream.chat_requests() == []


def test_any_key_shape_goes_to_a_non_openai_upstream(client, upstream):
    assert chat(client, api_key="ollama").status_code == 200
    assert upstream.chat_requests()[-1].headers["Authorization"] == "Bearer ollama"


@pytest.mark.parametrize(
    "key, expected",
    [
        (client_key(), {"valid": True, "message": "API key is valid."}),
        (client_key("sk-invalid-"), {"valid": False, "message": "Authentication failed. Please check your API key."}),
    ],
)
def test_test_key_asks_the_upstream_cheaply(checking_client, upstream, key, expected):
    response = checking_client.post("/api/test-key", json={"api_key": key})
    assert (response.status_code, response.get_json()) == (200, expected)
    assert [r.path for r in upstream.requests] == ["/v1/models"]
    assert upstream.requests[0].headers["Authorization"] == f"Bearer {key}"


def test_test_key_refuses_a_malformed_key(checking_client, upstream):
    response = checking_client.post("/api/test-key", json={"api_key": "not-a-key"})
    assert (response.status_code, response.get_json()) == (400, {"detail": "Invalid API Key format."})
    assert upstream.requests == []


def test_health_counts_active_sessions(client):
    before = client.get("/api/health").get_json()["active_sessions"]
    client.post("/api/sessions", json={})
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["active_sessions"] == before + 1
    iso(health["timestamp"])


def problem(loc, msg, type_):
    return {"loc": loc, "msg": msg, "type": type_}


BAD_INPUT = [
    (
        "/api/chat",
        {"user_message": "hi"},
        422,
        {"detail": [problem(["body", "developer_message"], "Field required", "missing")]},
    ),
    (
        "/api/chat",
        {"developer_message": "d"},
        422,
        {"detail": [problem(["body", "user_message"], "Field required", "missing")]},
    ),
    (
        "/api/chat",
        {"developer_message": 1, "user_message": ""},
        422,
        {
            "detail": [
                problem(["body", "developer_message"], "Input should be a valid string", "string_type"),
                problem(["body", "user_message"], "String should have at least 1 character", "string_too_short"),
            ]
        },
    ),
    (
        "/api/chat",
        {**CHAT, "session_id": 5},
        422,
        {"detail": [problem(["body", "session_id"], "Input should be a valid string", "string_type")]},
    ),
    (
        "/api/chat",
        {**CHAT, "model": "gpt-9"},
        400,
        {"detail": f"Model 'gpt-9' is not available. Allowed models: {', '.join(MODELS)}."},
    ),
    (
        "/api/sessions",
        {"developer_message": ["x"]},
        422,
        {"detail": [problem(["body", "developer_message"], "Input should be a valid string", "string_type")]},
    ),
    ("/api/test-key", {}, 422, {"detail": [problem(["body", "api_key"], "Field required", "missing")]}),
]


@pytest.mark.parametrize("path, body, status, expected", BAD_INPUT)
def test_bad_input_table(client, upstream, path, body, status, expected):
    response = client.post(path, json=body)
    assert (response.status_code, response.get_json()) == (status, expected)
    assert upstream.chat_requests() == []


def test_malformed_json_is_fastapis_422(client):
    response = client.post("/api/chat", data="{oops", content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["type"] == "json_invalid"


def test_routing_errors_use_fastapis_words(client):
    assert client.get("/api/nothing-here").get_json() == {"detail": "Not Found"}
    wrong = client.put("/api/chat", json=CHAT)
    assert (wrong.status_code, wrong.get_json()) == (405, {"detail": "Method Not Allowed"})
