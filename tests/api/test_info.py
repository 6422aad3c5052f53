"""Contract tests for GET /, /health and /models (Core)."""

import json
import re

import pytest

from chatgate.models import MODELS
from tests.support.servers import ROOT

ORIGINAL_ENDPOINTS = {
    "GET /health": "Check API health status",
    "GET /models": "List available models",
    "POST /chat": "Create chat completion",
    "POST /chat/stream": "Create streaming chat completion",
}


def test_index_has_the_original_shape(client):
    body = client.get("/").get_json()
    assert body["name"] == "OpenAI Chat API"
    assert body["version"] == "1.0.0"
    assert body["description"] == "REST API for OpenAI GPT models"
    assert body["documentation"]
    for endpoint, summary in ORIGINAL_ENDPOINTS.items():
        assert body["endpoints"][endpoint] == summary


def test_index_lists_every_route_of_the_app(app, client):
    endpoints = client.get("/").get_json()["endpoints"]
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.endswith("static") or getattr(view, "openapi_hidden", False):
            continue
        assert view.__doc__, f"{rule.endpoint} has no docstring"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"{method} {rule.rule}" in endpoints


def test_health_does_not_call_the_upstream(client, upstream):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "healthy",
        "service": "OpenAI Chat API",
        "provider": "OpenAI",
        "upstream_key": "server key",
    }
    assert upstream.requests == []


@pytest.mark.parametrize(
    "changes, state, ready",
    [
        ({}, "server key", 200),
        ({"openai_api_key": None}, "client keys only", 200),
        ({"openai_api_key": None, "allow_client_keys": False}, "none", 503),
    ],
)
def test_both_health_answers_name_the_key_state_alike(make_app, changes, state, ready):
    client = make_app(**changes).test_client()
    assert client.get("/health").get_json()["upstream_key"] == state
    readiness = client.get("/health/ready")
    expected = f"ok: {state}" if ready == 200 else "none: no upstream key is configured and client keys are not allowed"
    assert (readiness.status_code, readiness.get_json()["checks"]["upstream_key"]) == (ready, expected)


def test_models_are_the_original_list_in_order_then_the_current_ones(client):
    assert client.get("/models").get_json() == {
        "models": [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4-turbo",
            "gpt-4",
            "gpt-3.5-turbo",
            "o1-preview",
            "o1-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o1",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
        ],
        "default": "gpt-4o-mini",
    }
    assert list(MODELS)[1] == "gpt-4o-mini"


def test_models_and_default_can_come_from_settings(make_app):
    client = make_app(models=("llama3", "qwen2"), default_model="qwen2").test_client()
    assert client.get("/models").get_json() == {"models": ["llama3", "qwen2"], "default": "qwen2"}


@pytest.mark.parametrize(
    "origins, origin, allowed",
    [
        (("*",), "http://anywhere.example", "http://anywhere.example"),
        (("http://app.example",), "http://app.example", "http://app.example"),
        (("http://app.example",), "http://evil.example", None),
    ],
)
def test_cors_allows_all_origins_unless_narrowed(make_app, origins, origin, allowed):
    response = make_app(allow_origins=origins).test_client().get("/models", headers={"Origin": origin})
    assert response.headers.get("Access-Control-Allow-Origin") == allowed


def test_models_auto_is_the_upstreams_own_list(make_app, upstream, caplog):
    upstream.models = ["llama3:8b", "qwen2.5:7b"]
    client = make_app(models_auto=True).test_client()
    assert client.get("/models").get_json() == {"models": ["llama3:8b", "qwen2.5:7b"], "default": "llama3:8b"}
    assert "default model 'gpt-4o-mini' is not among the upstream's 2 models" in caplog.text
    assert client.post("/chat", json={"message": "hi", "model": "qwen2.5:7b"}).status_code == 200
    assert client.post("/chat", json={"message": "hi", "model": "gpt-4o"}).status_code == 400
    listed = [m["id"] for m in client.get("/v1/models").get_json()["data"]]
    assert listed[:2] == ["llama3:8b", "qwen2.5:7b"] and all("embed" in name for name in listed[2:])
    assert len(upstream.requests_to("GET", "/models")) == 1  # read once per MODELS_REFRESH


HOSTILE_MODELS = [
    {"id": {"x": 1}},
    {"id": 7},
    {"id": None},
    "<img src=x onerror=alert(1)>",
    "m" * 100_000,
    "two\nlines",
    "tab\there",
    "",
    "text-embedding-3-small",
    "nomic-embed-text",
    "omni-moderation-latest",
    "whisper-1",
    "tts-1",
    "dall-e-3",
    "gpt-image-1",
    "gpt-4o-realtime-preview",
    "llama3:8b",
]


def test_models_auto_keeps_only_chat_models_of_a_sane_shape(make_app, upstream):
    upstream.models = HOSTILE_MODELS
    client = make_app(models_auto=True).test_client()
    assert client.get("/models").get_json() == {"models": ["llama3:8b"], "default": "llama3:8b"}
    listed = [m["id"] for m in client.get("/v1/models").get_json()["data"]]
    assert listed[0] == "llama3:8b" and "nomic-embed-text" in listed[1:]  # the chat model, then the embeddings
    assert all("embed" in name for name in listed[1:])
    embedded = client.post("/v1/embeddings", json={"model": "nomic-embed-text", "input": "hi"})
    assert embedded.status_code == 200  # embedding models go to /v1/embeddings
    for model in ("text-embedding-3-small", "whisper-1", "<img src=x onerror=alert(1)>"):
        assert client.post("/chat", json={"message": "hi", "model": model}).status_code == 400
    assert upstream.chat_requests() == []


def test_models_auto_caps_a_huge_list_and_keeps_errors_small(make_app, upstream, caplog):
    upstream.models = [f"model-{number}" for number in range(20_000)]
    client = make_app(models_auto=True).test_client()
    assert len(client.get("/models").get_json()["models"]) == 2000
    assert caplog.text.count("offering the first 2000") == 1
    refused = client.post("/chat", json={"message": "hi", "model": "nope"})
    assert refused.status_code == 400 and len(refused.get_data()) < 1000
    assert "and 1980 more (GET /models lists them all)" in refused.get_json()["error"]
    assert len(client.get("/openapi.json").get_data()) < 400_000


@pytest.mark.parametrize("content", [[0.1, 0.2, 0.3], {"text": "x"}, 42])
def test_a_reply_that_is_not_text_is_never_passed_on_as_the_documented_string(client, upstream, content):
    upstream.queue(reply_content=content)
    response = client.post("/chat", json={"message": "hi"})
    assert response.status_code == 502 and response.get_json() == {
        "error": "The upstream's answer had no reply text in it."
    }


def test_a_reply_in_content_parts_is_passed_on_as_its_text(client, upstream):
    upstream.queue(reply_content=[{"type": "text", "text": "Hello "}, {"type": "text", "text": "there."}])
    assert client.post("/chat", json={"message": "hi"}).get_json()["response"] == "Hello there."


def test_the_api_document_lists_the_catalogue_as_it_is_now(make_app, upstream):
    upstream.models = ["llama3:8b"]
    client = make_app(models_auto=True, models_refresh=0).test_client()  # every use may read the list again
    assert "llama3:8b" in client.get("/openapi.json").get_data(as_text=True)
    upstream.models = ["qwen3:4b"]
    document = client.get("/openapi.json").get_data(as_text=True)
    assert "qwen3:4b" in document and "llama3:8b" not in document


def test_whether_a_model_is_offered_is_answered_in_each_surfaces_words(client, upstream):
    assert client.post("/chat", json={"message": "hi", "model": "nope"}).status_code == 400
    assert (
        client.post(
            "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}
        ).get_json()["error"]["code"]
        == "model_not_found"
    )
    assert client.post("/v1/embeddings", json={"model": "gpt-4o", "input": "x"}).status_code == 404
    assert upstream.requests == []


def test_the_readme_shows_the_index_as_the_service_answers_it(client):
    readme = (ROOT / "docs" / "surfaces.md").read_text()
    shown = re.search(r"curl http://localhost:5000/\n```\n```json\n(\{.*?\n\})\n```", readme, re.S)
    assert shown and json.loads(shown.group(1)) == client.get("/").get_json()
