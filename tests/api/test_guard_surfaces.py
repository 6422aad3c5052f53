"""Tokens and limits on every surface, each refusal in that surface's own error shape."""

import pytest

from tests.support.keys import secret

TOKEN = secret("tok-surfaces-" + "s" * 28)
HELLO = [{"role": "user", "content": "hi"}]
SESSION_CHAT = {"developer_message": "d", "user_message": "hi"}

# (method, path, body, how the surface's error carries its message)
SURFACES = [
    ("post", "/chat", {"message": "hi"}, lambda body: body["error"]),
    ("post", "/chat/stream", {"message": "hi"}, lambda body: body["error"]),
    ("get", "/models", None, lambda body: body["error"]),
    ("get", "/info", None, lambda body: body["error"]),
    ("get", "/usage", None, lambda body: body["error"]),
    ("post", "/v1/chat/completions", {"model": "gpt-4o", "messages": HELLO}, lambda body: body["error"]["message"]),
    ("get", "/v1/models", None, lambda body: body["error"]["message"]),
    ("post", "/ask", {"messages": HELLO}, lambda body: body["details"]),
    ("post", "/api/chat", SESSION_CHAT, lambda body: body["detail"]),
    ("post", "/api/sessions", {}, lambda body: body["detail"]),
    ("get", "/api/health", None, lambda body: body["detail"]),
    ("post", "/api/test-key", {"api_key": "sk-" + "k" * 40}, lambda body: body["detail"]),
]
SPENDING = [
    surface
    for surface in SURFACES
    if surface[1] in ("/chat", "/chat/stream", "/v1/chat/completions", "/ask", "/api/chat", "/api/test-key")
]
OPEN_WITH_ACCESS_CONTROL = ["/", "/health", "/openapi.json", "/docs", "/redoc", "/playground", "/docs/websocket"]


@pytest.mark.parametrize("method, path, body, message_of", SURFACES)
def test_every_surface_refuses_a_caller_without_a_token_in_its_shape(
    make_app, upstream, method, path, body, message_of
):
    client = make_app(api_tokens=(TOKEN,)).test_client()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="openai-chat-api"'
    assert message_of(response.get_json()).startswith("A valid service token is required")
    assert upstream.requests == []


@pytest.mark.parametrize("method, path, body, message_of", SURFACES)
def test_every_surface_serves_a_caller_with_a_token(make_app, upstream, method, path, body, message_of):
    client = make_app(api_tokens=(TOKEN,)).test_client()
    response = getattr(client, method)(path, json=body, headers={"X-API-Key": TOKEN})
    assert response.status_code == 200
    response.get_data()


@pytest.mark.parametrize("method, path, body, message_of", SURFACES)
def test_every_surface_is_open_without_access_control(make_app, upstream, method, path, body, message_of):
    response = getattr(make_app().test_client(), method)(path, json=body)
    assert response.status_code == 200
    response.get_data()


@pytest.mark.parametrize("path", OPEN_WITH_ACCESS_CONTROL)
def test_the_public_pages_stay_open(make_app, path):
    assert make_app(api_tokens=(TOKEN,)).test_client().get(path).status_code == 200


@pytest.mark.parametrize("method, path, body, message_of", SPENDING)
def test_every_surface_answers_an_exhausted_limit_with_429_in_its_shape(
    make_app, upstream, method, path, body, message_of
):
    client = make_app(api_tokens=(TOKEN,), rate_limit="2/minute").test_client()
    headers = {"X-API-Key": TOKEN}
    for remaining in ("1", "0"):
        allowed = getattr(client, method)(path, json=body, headers=headers)
        allowed.get_data()
        assert allowed.status_code == 200
        assert allowed.headers["X-RateLimit-Limit"] == "2"
        assert allowed.headers["X-RateLimit-Remaining"] == remaining
    refused = getattr(client, method)(path, json=body, headers=headers)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > 0
    assert "rate limit" in message_of(refused.get_json()).lower()


@pytest.mark.parametrize("method, path, body, message_of", [s for s in SURFACES if s not in SPENDING])
def test_what_does_not_spend_the_key_is_never_rate_limited(make_app, upstream, method, path, body, message_of):
    client = make_app(api_tokens=(TOKEN,), rate_limit="1/minute").test_client()
    headers = {"X-API-Key": TOKEN}
    statuses = [getattr(client, method)(path, json=body, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert client.post("/chat", json={"message": "hi"}, headers=headers).status_code == 200  # the budget is whole
