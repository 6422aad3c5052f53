"""Sampling parameters on the core and sessions surfaces; tool calls and content parts through /v1."""

import json

import pytest

from tests.support.sse import sse_payloads

SAMPLING = {
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 50,
    "presence_penalty": 0.5,
    "frequency_penalty": -0.5,
    "stop": ["\n\n"],
    "seed": 42,
    "response_format": {"type": "json_object"},
}
SESSION_CHAT = {"developer_message": "d", "user_message": "q"}


def send(client, path, **fields):
    body = {"/chat": {"message": "hi"}, "/chat/stream": {"message": "hi"}, "/api/chat": SESSION_CHAT}[path]
    response = client.post(path, json={**body, **fields})
    response.get_data()
    return response


@pytest.mark.parametrize("path", ["/chat", "/chat/stream", "/api/chat"])
def test_sampling_parameters_reach_the_upstream(client, upstream, path):
    assert send(client, path, **SAMPLING).status_code == 200
    sent = upstream.last_chat_body()
    assert {name: sent[name] for name in SAMPLING} == SAMPLING


@pytest.mark.parametrize("path", ["/chat", "/chat/stream", "/api/chat"])
def test_a_reasoning_model_gets_them_as_it_takes_them(client, upstream, path):
    assert send(client, path, model="o3-mini", **SAMPLING).status_code == 200
    sent = upstream.last_chat_body()
    assert sent["max_completion_tokens"] == 50 and "max_tokens" not in sent
    assert not {"temperature", "top_p", "presence_penalty", "frequency_penalty"} & set(sent)
    assert sent["stop"] == ["\n\n"] and sent["seed"] == 42


@pytest.mark.parametrize("path", ["/chat", "/chat/stream", "/api/chat"])
@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", "hot"),
        ("temperature", 3),
        ("max_tokens", 0),
        ("max_tokens", 1.5),
        ("stop", 7),
        ("seed", True),
        ("top_p", 2),
    ],
)
def test_a_wrong_parameter_is_refused_naming_it(client, upstream, path, field, value):
    response = send(client, path, **{field: value})
    assert response.status_code in (400, 422)
    assert field in json.dumps(response.get_json())
    assert upstream.chat_requests() == []


def test_the_document_lists_the_sampling_parameters(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("ChatRequest", "SessionChatRequest"):
        assert set(SAMPLING) <= set(schemas[name]["properties"]), name


TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    }
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}},
        },
    }
]


def test_streamed_tool_calls_pass_through_untouched_and_are_counted(client, upstream):
    upstream.queue(tool_calls=TOOL_CALLS)
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4.1",
            "stream": True,
            "tools": TOOLS,
            "messages": [{"role": "user", "content": "Weather?"}],
        },
    )
    chunks = [json.loads(p) for p in sse_payloads(response.get_data())[:-1]]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == TOOL_CALLS[0]["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert upstream.last_chat_body()["tools"] == TOOLS
    assert client.get("/usage").get_json()["usage"]["gpt-4.1"]["calls"] == 1


def test_image_content_parts_pass_through_untouched_and_are_counted(client, upstream):
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
    ]
    answer = client.post(
        "/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": parts}]}
    )
    assert answer.status_code == 200
    assert upstream.last_chat_body()["messages"] == [{"role": "user", "content": parts}]
    usage = client.get("/usage").get_json()["usage"]["gpt-4.1-mini"]
    assert usage["calls"] == 1 and usage["completion_tokens"] == 5
