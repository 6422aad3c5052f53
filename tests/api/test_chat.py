"""Contract tests for POST /chat (Core): shapes, what reaches the upstream, bad input, faults."""

import pytest

from chatgate.models import MODELS
from tests.conftest import TEST_TIMEOUT
from tests.support.keys import SERVER_KEY

ALLOWED = ", ".join(MODELS)


def test_chat_answers_in_the_original_shape(client, upstream):
    upstream.default = upstream.default.__class__(reply="Paris is the capital.")
    response = client.post("/chat", json={"message": "What is the capital of France?", "model": "gpt-4o-mini"})
    assert response.status_code == 200
    assert response.get_json() == {
        "response": "Paris is the capital.",
        "model": "gpt-4o-mini",
        "conversation": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris is the capital."},
        ],
        "usage": {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10},
    }


def test_chat_sends_history_then_the_new_turn_with_the_server_key(client, upstream):
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    body = client.post("/chat", json={"message": "And Spain?", "messages": history}).get_json()
    sent = upstream.chat_requests()[-1]
    assert sent.body == {"model": "gpt-4o-mini", "messages": history + [{"role": "user", "content": "And Spain?"}]}
    assert sent.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    assert body["conversation"] == history + [
        {"role": "user", "content": "And Spain?"},
        {"role": "assistant", "content": "Hello from the fake upstream."},
    ]


def test_default_model_is_used_when_none_is_given(make_app, upstream):
    make_app(default_model="gpt-4o").test_client().post("/chat", json={"message": "hi"})
    assert upstream.last_chat_body()["model"] == "gpt-4o"


def test_o1_models_get_no_system_message_and_no_sampling(app, upstream):
    client = app.test_client()
    client.post(
        "/chat",
        json={
            "message": "Solve it.",
            "model": "o1-mini",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": "Use numbers."},
            ],
        },
    )
    assert upstream.last_chat_body()["messages"] == [
        {"role": "user", "content": "You are terse.\n\nUse numbers.\n\nSolve it."}
    ]


def test_o1_quirks_rewrite_token_limit_and_drop_sampling(app, upstream):
    from chatgate.upstream import upstream_client

    with app.app_context():
        upstream_client().complete(
            {
                "model": "o1-preview",
                "messages": [{"role": "user", "content": "x"}],
                "temperature": 0.2,
                "top_p": 0.5,
                "max_tokens": 50,
            }
        )
    sent = upstream.last_chat_body()
    assert "temperature" not in sent and "top_p" not in sent and "max_tokens" not in sent
    assert sent["max_completion_tokens"] == 50


BAD_INPUTS = [
    ({}, 400, "Invalid request body: 'message': Field required."),
    ({"message": ""}, 400, "Invalid request body: 'message': must not be empty."),
    ({"message": "   "}, 400, "Invalid request body: 'message': must not be empty."),
    ({"message": 42}, 400, "Invalid request body: 'message': Input should be a valid string."),
    ({"message": None}, 400, "Invalid request body: 'message': Input should be a valid string."),
    ({"message": "hi", "model": "gpt-9"}, 400, f"Model 'gpt-9' is not available. Allowed models: {ALLOWED}."),
    ({"message": "hi", "model": 7}, 400, "Invalid request body: 'model': Input should be a valid string."),
    ({"message": "hi", "messages": "nope"}, 400, "Invalid request body: 'messages': Input should be a valid list."),
    (
        {"message": "hi", "messages": [{"role": "wizard", "content": "x"}]},
        400,
        "Invalid request body: 'messages.0.role': Input should be 'system', 'developer', 'user' or 'assistant'.",
    ),
    (
        {"message": "hi", "messages": [{"role": "user"}]},
        400,
        "Invalid request body: 'messages.0.content': Field required.",
    ),
    (
        {"message": "hi", "messages": [{"role": "user", "content": ["x"]}]},
        400,
        "Invalid request body: 'messages.0.content': Input should be a valid string.",
    ),
    (
        {"message": "hi", "messages": ["hello"]},
        400,
        "Invalid request body: 'messages.0': Input should be a valid dictionary or instance of ChatMessage.",
    ),
]


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
@pytest.mark.parametrize("payload, status, error", BAD_INPUTS)
def test_bad_input_is_refused_before_the_upstream(client, upstream, path, payload, status, error):
    response = client.post(path, json=payload)
    assert (response.status_code, response.get_json()) == (status, {"error": error})
    assert upstream.chat_requests() == []


BAD_BODIES = [
    ("{not json", "application/json", 400, "The request body is not valid JSON"),
    ("[1, 2]", "application/json", 400, "The request body must be a JSON object."),
    ('"hi"', "application/json", 400, "The request body must be a JSON object."),
    ("", "application/json", 400, "The request body is not valid JSON"),
    ("message=hi", "application/x-www-form-urlencoded", 415, "The request body must be JSON"),
    ("hi", "text/plain", 415, "The request body must be JSON"),
]


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
@pytest.mark.parametrize("data, content_type, status, error_start", BAD_BODIES)
def test_malformed_bodies_get_json_errors(client, path, data, content_type, status, error_start):
    response = client.post(path, data=data, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"].startswith(error_start)


def test_body_over_the_limit_is_413(make_app):
    client = make_app(max_request_bytes=1024).test_client()
    response = client.post("/chat", json={"message": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json() == {"error": "The request body is larger than the limit of 1024 bytes."}


UPSTREAM_FAULTS = [
    (dict(status=429, retry_after="7"), 429, "The upstream is rate limiting requests"),
    (dict(status=500), 502, "The upstream failed with status 500"),
    (dict(status=503), 502, "The upstream failed with status 503"),
    (dict(status=401), 502, "The upstream rejected the server's API key"),
    (dict(status=400, error_message="context too long"), 400, "The upstream rejected the request: context too long"),
    (dict(garbage=True), 502, "The upstream answered with something that is not"),
    (dict(delay=TEST_TIMEOUT + 1), 504, f"The upstream did not answer within {TEST_TIMEOUT:g} s."),
    # A failure whose body is no JSON error: the upstream's own words when it has some, else the status once and
    # the upstream's request id.
    (
        dict(status=500, error_body=("text/html", b"<html><body>Bad gateway</body></html>")),
        502,
        "The upstream failed with status 500 (upstream request id req_fake_failure).",
    ),
    (
        dict(status=503, error_body=("text/event-stream", b'data: {"error": {"message": "engine overloaded"}}\n\n')),
        502,
        "The upstream failed with status 503: engine overloaded",
    ),
    (
        dict(status=429, error_body=("text/plain", b"slow down")),
        429,
        "The upstream is rate limiting requests (status 429, upstream request id req_fake_failure).",
    ),
]


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
@pytest.mark.parametrize("fault, status, error_start", UPSTREAM_FAULTS)
def test_upstream_faults_get_the_right_status(client, upstream, path, fault, status, error_start):
    upstream.queue(**fault)
    response = client.post(path, json={"message": "hi"})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"].startswith(error_start)
    if status == 429 and "retry_after" in fault:
        assert response.headers["Retry-After"] == "7"


def test_unreachable_upstream_is_502(make_app):
    client = make_app(openai_base_url="http://127.0.0.1:9/v1").test_client()
    response = client.post("/chat", json={"message": "hi"})
    assert (response.status_code, response.get_json()) == (502, {"error": "The upstream could not be reached."})


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
def test_no_server_key_is_503_naming_the_variable(make_app, upstream, path):
    response = make_app(openai_api_key=None).test_client().post(path, json={"message": "hi"})
    assert response.status_code == 503
    assert "OPENAI_API_KEY_CYB_SEC" in response.get_json()["error"]
    assert upstream.chat_requests() == []
