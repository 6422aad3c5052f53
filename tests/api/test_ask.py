"""POST /ask (Simple backend): a plain-text stream, and the original error shape with real statuses."""

import pytest

CONVERSATION = {
    "messages": [
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there!"},
        {"role": "user", "content": "How are you?"},
    ]
}


def ask_error(code, content, details):
    return {"role": "assistant", "content": content, "error": code, "details": details}


BAD_REQUEST = "I couldn't understand that request. Please check what was sent."


def test_the_reply_streams_as_plain_text_on_the_default_model(client, upstream):
    with upstream.behave(reply="I am fine"):
        response = client.post("/ask", json=CONVERSATION)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["x-vercel-ai-data-stream"] == "v1"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.get_data(as_text=True) == "I am fine"
    sent = upstream.last_chat_body()
    assert sent["model"] == client.get("/models").get_json()["default"]
    assert sent["messages"] == CONVERSATION["messages"] and sent["stream"] is True


def test_the_text_arrives_in_pieces(client, upstream):
    with upstream.behave(reply="one two three"):
        response = client.post("/ask", json=CONVERSATION, buffered=False)
        pieces = list(response.response)
    assert [p for p in pieces if p] == [b"one", b" two", b" three"]


@pytest.mark.parametrize(
    "body, status, details",
    [
        ({}, 400, "Invalid request body: 'messages': Field required."),
        (
            {"messages": []},
            400,
            "Invalid request body: 'messages': List should have at least 1 item after validation, not 0.",
        ),
        ({"messages": "hi"}, 400, "Invalid request body: 'messages': Input should be a valid list."),
        (
            {"messages": [{"role": "bot", "content": "x"}]},
            400,
            "Invalid request body: 'messages.0.role': Input should be 'system', 'developer', 'user' or 'assistant'.",
        ),
        ({"messages": [{"role": "user"}]}, 400, "Invalid request body: 'messages.0.content': Field required."),
        (
            {"messages": [{"role": "user", "content": 5}]},
            400,
            "Invalid request body: 'messages.0.content': Input should be a valid string.",
        ),
    ],
)
def test_bad_input_table(client, upstream, body, status, details):
    response = client.post("/ask", json=body)
    assert (response.status_code, response.get_json()) == (
        status,
        ask_error("invalid_request_error", BAD_REQUEST, details),
    )
    assert upstream.chat_requests() == []


def test_non_json_and_wrong_method_keep_the_shape(client):
    response = client.post("/ask", data="hello", content_type="text/plain")
    assert response.status_code == 415 and response.get_json()["error"] == "invalid_request_error"
    response = client.get("/ask")
    assert response.status_code == 405 and set(response.get_json()) == {"role", "content", "error", "details"}


@pytest.mark.parametrize(
    "fault, status, code",
    [
        (dict(status=429, retry_after="2"), 429, "rate_limit_error"),
        (dict(status=500), 502, "service_unavailable_error"),
        (dict(delay=2), 504, "service_unavailable_error"),
        (dict(garbage=True), 502, "service_unavailable_error"),
    ],
)
def test_upstream_failures_before_the_first_byte_get_real_statuses(client, upstream, fault, status, code):
    upstream.queue(**fault)
    response = client.post("/ask", json=CONVERSATION)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and body["role"] == "assistant" and body["details"]


def test_no_server_key_is_503_service_unavailable(make_app):
    response = make_app(openai_api_key=None).test_client().post("/ask", json=CONVERSATION)
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable_error"


def test_a_failure_after_the_first_byte_ends_the_text_with_an_error_line(make_app, upstream):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    upstream.queue(cut_after=2, reply="a b c d")
    response = client.post("/ask", json=CONVERSATION)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == (
        "a b\n\n[error: service_unavailable_error: The upstream connection was cut in the middle of the reply.]"
    )
