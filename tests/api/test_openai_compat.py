"""The OpenAI-compatible surface (OpenAI-compatible): wire format, relaying, errors in OpenAI's shape."""

import json

import pytest

from tests.support.keys import SERVER_KEY, client_key
from tests.support.sse import sse_payloads

HELLO = [{"role": "user", "content": "Hello"}]


def test_plain_completion_is_openais_answer(client, upstream):
    response = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello from the fake upstream.",
        "refusal": None,
    }
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + answer["usage"]["completion_tokens"]
    assert upstream.last_chat_body() == {"model": "gpt-4o-mini", "messages": HELLO}


def test_standard_parameters_and_unknown_ones_are_forwarded(client, upstream):
    params = {
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 12,
        "stop": ["\n"],
        "n": 1,
        "seed": 7,
        "user": "u1",
        "response_format": {"type": "json_object"},
        "presence_penalty": 0.1,
        "frequency_penalty": -0.1,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "a_future_parameter": {"x": 1},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
    }
    body = {"model": "gpt-4o", "messages": HELLO, **params}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert upstream.last_chat_body() == body


def test_stream_relays_the_upstreams_events_byte_for_byte(client, upstream):
    with upstream.behave(reply="one two three"):
        response = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    payloads = sse_payloads(response.get_data())
    assert payloads[-1] == b"[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "one two three"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # The ledger needs usage, so it is always asked for; the client that did not ask never sees it.
    assert upstream.last_chat_body()["stream_options"] == {"include_usage": True}
    assert all(c["choices"] for c in chunks)
    # Relayed, not re-encoded: the upstream's own spacing survives.
    assert b'"object": "chat.completion.chunk"' in payloads[0]


def test_stream_with_include_usage_ends_with_the_usage_chunk(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}},
    )
    payloads = sse_payloads(response.get_data())
    assert payloads[-1] == b"[DONE]"
    last = json.loads(payloads[-2])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5


def test_o1_quirks_apply_here_too(client, upstream):
    body = {
        "model": "o1-mini",
        "temperature": 0.3,
        "max_tokens": 50,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    sent = upstream.last_chat_body()
    assert "temperature" not in sent and "max_tokens" not in sent
    assert sent["max_completion_tokens"] == 50
    assert [m["role"] for m in sent["messages"]] == ["user"]


def test_models_are_the_catalogue_in_openais_list_format(client):
    listing = client.get("/v1/models").get_json()
    assert listing["object"] == "list"
    chat_models = client.get("/models").get_json()["models"]
    embedding_models = ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
    assert [m["id"] for m in listing["data"]] == chat_models + embedding_models  # what /v1/embeddings serves too
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in listing["data"])
    assert client.get("/v1/models/gpt-4o").get_json()["id"] == "gpt-4o"
    assert client.get("/v1/models/text-embedding-3-small").get_json()["id"] == "text-embedding-3-small"


def test_a_stream_that_did_not_ask_for_usage_has_no_usage_field(client, upstream):
    body = {"model": "gpt-4o", "messages": HELLO, "stream": True}
    plain = client.post("/v1/chat/completions", json=body).get_data(as_text=True)
    chunks = [json.loads(line[6:]) for line in plain.splitlines() if line.startswith("data: {")]
    assert chunks and all("usage" not in chunk for chunk in chunks)  # as OpenAI sends it to such a client
    asked = client.post("/v1/chat/completions", json={**body, "stream_options": {"include_usage": True}})
    chunks = [json.loads(line[6:]) for line in asked.get_data(as_text=True).splitlines() if line.startswith("data: {")]
    assert all("usage" in chunk for chunk in chunks) and chunks[-1]["usage"]["total_tokens"] > 0


def openai_error(message, type_="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


UNKNOWN = "The model `gpt-9` does not exist or you do not have access to it."
BAD_INPUT = [
    ({"model": "gpt-9", "messages": HELLO}, 404, openai_error(UNKNOWN, code="model_not_found")),
    (
        {"messages": HELLO},
        400,
        openai_error(
            "Invalid request body: 'model': Field required.", param="model", code="missing_required_parameter"
        ),
    ),
    (
        {"model": "gpt-4o"},
        400,
        openai_error(
            "Invalid request body: 'messages': Field required.", param="messages", code="missing_required_parameter"
        ),
    ),
    (
        {"model": "gpt-4o", "messages": []},
        400,
        openai_error(
            "Invalid request body: 'messages': List should have at least 1 item after validation, not 0.",
            param="messages",
            code="array_below_min_length",
        ),
    ),
    (
        {"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
        400,
        openai_error(
            "Invalid request body: 'messages.0.role': Input should be 'system', 'developer', 'user', "
            "'assistant', 'tool' or 'function'.",
            param="messages.0.role",
            code="invalid_value",
        ),
    ),
    (
        {"model": "gpt-4o", "messages": HELLO, "temperature": False},
        400,
        openai_error(
            "Invalid request body: 'temperature': Input should be a valid number.",
            param="temperature",
            code="invalid_type",
        ),
    ),
    (
        {"model": "gpt-4o", "messages": HELLO, "temperature": 3},
        400,
        openai_error(
            "Invalid request body: 'temperature': Input should be less than or equal to 2.",
            param="temperature",
            code="integer_above_max_value",
        ),
    ),
    (
        {"model": "gpt-4o", "messages": HELLO, "max_tokens": "10"},
        400,
        openai_error(
            "Invalid request body: 'max_tokens': Input should be a valid integer.",
            param="max_tokens",
            code="invalid_type",
        ),
    ),
    (
        {"model": "gpt-4o", "messages": HELLO, "stream": "yes"},
        400,
        openai_error(
            "Invalid request body: 'stream': Input should be a valid boolean.", param="stream", code="invalid_type"
        ),
    ),
    (
        {"model": "gpt-4o", "messages": HELLO, "stop": ["a", "b", "c", "d", "e"]},
        400,
        openai_error(
            "Invalid request body: 'stop.str': Input should be a valid string.", param="stop.str", code="invalid_type"
        ),
    ),
]


@pytest.mark.parametrize("body, status, expected", BAD_INPUT)
def test_bad_input_table(client, upstream, body, status, expected):
    response = client.post("/v1/chat/completions", json=body)
    assert (response.status_code, response.get_json()) == (status, expected)
    assert upstream.chat_requests() == []


@pytest.mark.parametrize(
    "send, status, expected",
    [
        (dict(data="{not json", content_type="application/json"), 400, "The request body is not valid JSON"),
        (dict(data="hi", content_type="text/plain"), 415, "The request body must be JSON"),
        (dict(json=[1, 2]), 400, "The request body must be a JSON object."),
    ],
)
def test_malformed_bodies_get_openai_errors(client, send, status, expected):
    response = client.post("/v1/chat/completions", **send)
    assert response.status_code == status
    assert response.get_json()["error"]["message"].startswith(expected)
    assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}


def test_unknown_paths_and_methods_answer_in_openais_shape(client):
    missing = client.get("/v1/audio/speech")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] is None  # as OpenAI has it
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] is None
    assert client.get("/v1/models/gpt-9").get_json() == openai_error(UNKNOWN, code="model_not_found")


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_rate_limit_passes_status_and_retry_after(client, upstream, stream):
    upstream.queue(status=429, retry_after="7", error_type="rate_limit_error")
    response = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO, "stream": stream})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.get_json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("fault, status", [(dict(delay=2), 504), (dict(garbage=True), 502), (dict(status=500), 502)])
def test_upstream_faults_before_the_start(client, upstream, fault, status):
    upstream.queue(**fault)
    response = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO})
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}


def test_a_cut_mid_stream_ends_with_an_error_event_and_no_done(make_app, upstream):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    upstream.queue(cut_after=2, reply="a b c d")
    response = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO, "stream": True})
    assert response.status_code == 200
    payloads = sse_payloads(response.get_data())
    assert b"[DONE]" not in payloads
    assert json.loads(payloads[-1])["error"]["code"] == "upstream_error"


def test_a_bearer_client_key_is_forwarded_and_never_echoed(client, upstream):
    key = client_key()
    response = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    assert upstream.chat_requests()[-1].headers["Authorization"] == f"Bearer {key}"


def test_without_a_key_the_server_key_is_used(client, upstream):
    client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO})
    assert upstream.chat_requests()[-1].headers["Authorization"] == f"Bearer {SERVER_KEY}"


def test_a_rejected_client_key_is_a_401_that_does_not_echo_it(client, upstream):
    key = client_key("sk-invalid")
    response = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "invalid_api_key"  # OpenAI's own type and code, passed on
    assert key[-4:] + "." not in error["message"]


def test_no_server_key_is_a_503_naming_the_variable(make_app):
    response = (
        make_app(openai_api_key=None)
        .test_client()
        .post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO})
    )
    assert response.status_code == 503
    assert "OPENAI_API_KEY_CYB_SEC" in response.get_json()["error"]["message"]


def test_a_malformed_client_key_is_a_400_naming_the_api_key(make_app, upstream):
    client = make_app(client_key_format="openai").test_client()
    answer = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"X-OpenAI-Key": "sk-short"},
    )
    assert answer.status_code == 400 and answer.get_json()["error"]["param"] == "api_key"
    assert answer.get_json()["error"]["message"].startswith("Invalid API Key format.") and upstream.requests == []


def test_a_missing_service_token_on_v1_carries_its_code(make_app, upstream):
    client = make_app(api_tokens=("tok-compat-" + "4" * 30,)).test_client()
    refused = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "missing_or_invalid_token"


@pytest.mark.parametrize("code", [None, "unsupported_parameter"])
def test_an_upstreams_error_code_comes_back_unchanged(client, upstream, code):
    said = {
        "error": {"message": "Unsupported parameter: 'x'.", "type": "invalid_request_error", "param": "x", "code": code}
    }
    upstream.queue(status=400, error_body=("application/json", json.dumps(said).encode()))
    error = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}).get_json()["error"]
    assert error["code"] == code and error["param"] == "x" and error["type"] == "invalid_request_error"


def test_a_stored_response_of_another_caller_is_openais_404_with_a_null_code(client, upstream):
    error = client.get("/v1/responses/resp_nobody").get_json()["error"]
    assert error["code"] is None and error["message"] == "No response found with id 'resp_nobody'."
