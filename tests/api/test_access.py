"""Access control: service tokens, the public endpoints, the caller's identity and the key-choice rule."""

import hashlib
import hmac

import pytest

from chatgate.config import Settings
from chatgate.guard import access
from chatgate.guard.access import TokenRegistry
from chatgate.guard.token_store import TokenStore
from chatgate.storage.sqlite import SQLiteBackend
from tests.support.keys import SERVER_KEY, client_key, secret
from tests.support.servers import free_port


def no_stored_tokens(tmp_path):
    return TokenStore(SQLiteBackend(str(tmp_path / "tokens.sqlite3")).tokens())


TOKEN = secret("tok-" + "a" * 40)
ADMIN = secret("adm-" + "b" * 40)

PROTECTED = [
    ("get", "/models", None),
    ("post", "/chat", {"message": "hi"}),
    ("post", "/chat/stream", {"message": "hi"}),
    ("get", "/usage", None),
    ("get", "/metrics", None),
]
PUBLIC = ["/", "/health"]


@pytest.fixture
def guarded(make_app):
    return make_app(api_tokens=(TOKEN,), admin_tokens=(ADMIN,)).test_client()


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_protected_endpoints_need_a_token(guarded, upstream, method, path, body):
    response = getattr(guarded, method)(path, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="openai-chat-api"'
    assert response.get_json()["error"].startswith("A valid service token is required")
    assert upstream.chat_requests() == []


@pytest.mark.parametrize(
    "headers", [{"Authorization": f"Bearer {TOKEN}"}, {"X-API-Key": TOKEN}, {"Authorization": f"bearer {ADMIN}"}]
)
@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_a_token_opens_every_endpoint(guarded, method, path, body, headers):
    assert getattr(guarded, method)(path, json=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": TOKEN[:-1]},
        {"Authorization": TOKEN},
        {"Authorization": "Basic " + TOKEN},
    ],
)
def test_wrong_tokens_are_refused(guarded, headers):
    assert guarded.get("/models", headers=headers).status_code == 401


@pytest.mark.parametrize("path", PUBLIC)
def test_public_endpoints_stay_open(guarded, path):
    assert guarded.get(path).status_code == 200


def test_cors_preflight_needs_no_token(guarded):
    response = guarded.options(
        "/chat", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 200


def test_without_tokens_the_service_is_open_and_warns_once(make_app, caplog):
    caplog.clear()
    client = make_app().test_client()
    assert client.get("/models").status_code == 200
    warnings = [r for r in caplog.records if "API_TOKENS is not set" in r.getMessage()]
    assert len(warnings) == 1


def test_token_registry_matches_only_exact_tokens(tmp_path):
    registry = TokenRegistry(Settings(api_tokens=("t1", "t2"), admin_tokens=("adm",)), no_stored_tokens(tmp_path))
    assert registry.is_token("t1") and registry.is_token("t2") and registry.is_token("adm")
    assert not registry.is_token("t") and not registry.is_token("t1 ") and not registry.is_token(None)
    assert registry.is_admin("adm") and not registry.is_admin("t1")


@pytest.mark.parametrize("presented", ["t1", "t3", "adm", "nobody"])
def test_every_lookup_compares_with_every_token_in_constant_time(monkeypatch, presented, tmp_path):
    compared, compare_digest = [], hmac.compare_digest

    def counting_compare_digest(a, b):
        compared.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", counting_compare_digest)
    registry = TokenRegistry(Settings(api_tokens=("t1", "t2", "t3"), admin_tokens=("adm",)), no_stored_tokens(tmp_path))
    registry.is_token(presented)
    # No early exit: where the token is in the list, or whether it is there at all, changes nothing.
    assert len(compared) == 4 and all(isinstance(a, bytes) and len(a) == 32 for a, _ in compared)


KEY = client_key()

# (access control on?, ALLOW_CLIENT_KEYS, headers) -> key the upstream sees
KEY_CHOICE = [
    (False, True, {}, SERVER_KEY),
    (False, True, {"X-OpenAI-Key": KEY}, KEY),
    (False, True, {"Authorization": f"Bearer {KEY}"}, KEY),
    (False, False, {"X-OpenAI-Key": KEY}, SERVER_KEY),
    (True, True, {"X-API-Key": TOKEN}, SERVER_KEY),
    (True, True, {"X-API-Key": TOKEN, "X-OpenAI-Key": KEY}, KEY),
    (True, True, {"X-API-Key": TOKEN, "Authorization": f"Bearer {KEY}"}, KEY),
    (True, True, {"Authorization": f"Bearer {TOKEN}", "X-OpenAI-Key": KEY}, KEY),
    (True, False, {"X-API-Key": TOKEN, "X-OpenAI-Key": KEY}, SERVER_KEY),
]


@pytest.mark.parametrize("guard, allow, headers, expected", KEY_CHOICE)
def test_key_choice_table(make_app, upstream, guard, allow, headers, expected):
    app = make_app(api_tokens=(TOKEN,) if guard else (), allow_client_keys=allow)
    response = app.test_client().post("/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 200
    assert upstream.chat_requests()[-1].headers["Authorization"] == f"Bearer {expected}"


def test_a_client_key_alone_does_not_pass_access_control(make_app, upstream):
    app = make_app(api_tokens=(TOKEN,))
    response = app.test_client().post("/chat", json={"message": "hi"}, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 401
    assert upstream.chat_requests() == []


def test_a_made_up_bearer_key_does_not_make_a_new_caller(make_app):
    # Open service: a key that is no service token (a caller's own OpenAI key, say) leaves the caller its address,
    # so that sending a different key with each request cannot buy a fresh rate limit each time.
    client = make_app().test_client()
    for headers in ({}, {"Authorization": f"Bearer {KEY}"}, {"X-API-Key": "made-up"}):
        assert client.get("/usage", headers=headers).get_json()["caller"] == "ip:127.0.0.1"


def test_a_configured_token_is_named_by_sixteen_hex_digits_of_its_digest(guarded):
    caller = guarded.get("/usage", headers={"X-API-Key": TOKEN}).get_json()["caller"]
    assert caller == "token:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:16]


def test_each_address_is_its_own_caller(make_app):
    client = make_app().test_client()
    for address in ("203.0.113.5", "198.51.100.7"):
        usage = client.get("/usage", environ_base={"REMOTE_ADDR": address})
        assert usage.get_json()["caller"] == f"ip:{address}"


@pytest.mark.parametrize(
    "method, path", [("get", "/health"), ("get", "/openapi.json"), ("options", "/v1/chat/completions")]
)
def test_public_pages_and_preflights_ask_no_storage_even_with_a_token(make_app, method, path):
    # A token on a public page is not looked up: with storage down, health and CORS preflights still answer.
    client = make_app(api_tokens=(TOKEN,), redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    headers = {"Authorization": "Bearer tok-perhaps-stored", "Origin": "http://app.example"}
    headers["Access-Control-Request-Method"] = "POST"
    assert getattr(client, method)(path, headers=headers).status_code == 200


def test_outside_a_request_the_caller_is_unknown_with_no_policy(make_app):
    app = make_app()
    assert access.current_caller() == "unknown" and access.current_policy() is None
    with app.test_request_context("/chat"):  # a request not yet identified
        assert access.current_caller() == "unknown" and access.current_policy() is None
