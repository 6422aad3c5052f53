"""The admin API: only admins (an admin token, a stored --admin token, a signed-in user with the admin claim); stored
tokens made, changed and revoked with the CLI agreeing; upstreams rested and resumed; the recent calls, filtered and
bounded; an audit line for every action."""

import pytest

from tests.support.identity_provider import AUDIENCE, IdentityProvider
from tests.support.keys import secret
from tests.support.upstreams_file import chat, table

ADMIN = secret("adm-admin-api-" + "a" * 30)
PLAIN = secret("tok-admin-api-" + "p" * 30)
HELLO = [{"role": "user", "content": "hi"}]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_app(make_app):
    return make_app(admin_tokens=(ADMIN,), api_tokens=(PLAIN,))


@pytest.fixture
def client(admin_app):
    return admin_app.test_client()


@pytest.fixture(scope="module")
def provider():
    started = IdentityProvider().start()
    yield started
    started.stop()


API_CALLS = [
    ("get", "/admin/api/tokens", None),
    ("post", "/admin/api/tokens", {"name": "x"}),
    ("patch", "/admin/api/tokens/x", {"spend_limit": "1/day"}),
    ("delete", "/admin/api/tokens/x", None),
    ("get", "/admin/api/upstreams", None),
    ("post", "/admin/api/upstreams/default/rest", {"seconds": 60}),
    ("post", "/admin/api/upstreams/default/resume", None),
    ("get", "/admin/api/calls", None),
    ("get", "/admin/api/audit", None),
]


@pytest.mark.parametrize("method, path, body", API_CALLS)
def test_every_call_refuses_a_missing_bearer_and_a_caller_that_is_no_admin(client, method, path, body):
    missing = getattr(client, method)(path, json=body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    plain = getattr(client, method)(path, json=body, headers=bearer(PLAIN))
    assert plain.status_code == 403 and "not an admin" in plain.get_json()["error"]


def test_an_open_service_has_no_admin(make_app):
    client = make_app().test_client()  # no token anywhere: anyone may chat, nobody administers
    for headers in ({}, bearer("made-up")):
        refused = client.get("/admin/api/tokens", headers=headers)
        assert refused.status_code == 401 and "An admin token" in refused.get_json()["error"]


def test_a_signed_in_user_is_an_admin_only_with_the_admin_claim(make_app, provider):
    app = make_app(jwt_issuer=provider.issuer, jwt_audience=AUDIENCE, jwt_admin_claim="groups")
    client = app.test_client()
    assert client.get("/admin/api/tokens", headers=bearer(provider.token("ada"))).status_code == 403
    other_group = provider.token("bob", groups=["staff"])
    assert client.get("/admin/api/tokens", headers=bearer(other_group)).status_code == 403
    lead = provider.token("cy", groups=["staff", "admin"])
    assert client.get("/admin/api/tokens", headers=bearer(lead)).status_code == 200
    role = make_app(jwt_issuer=provider.issuer, jwt_audience=AUDIENCE, jwt_admin_claim="role").test_client()
    assert role.get("/admin/api/calls", headers=bearer(provider.token("di", role="admin"))).status_code == 200
    assert role.get("/admin/api/calls", headers=bearer(provider.token("ed", role="user"))).status_code == 403


def test_a_token_made_here_works_at_once_is_shown_once_and_its_limits_hold(client, upstream):
    made = client.post(
        "/admin/api/tokens", json={"name": "mobile-app", "models": ["gpt-4o-mini"]}, headers=bearer(ADMIN)
    )
    assert made.status_code == 201
    token = made.get_json()["token"]
    assert made.get_json()["name"] == "mobile-app" and made.get_json()["state"] == "active"
    assert client.post("/chat", json={"message": "hi"}, headers=bearer(token)).status_code == 200
    listed = client.get("/admin/api/tokens", headers=bearer(ADMIN)).get_json()["tokens"]
    assert token not in str(listed)  # never shown again
    (entry,) = [t for t in listed if t["name"] == "mobile-app"]
    assert entry["models"] == ["gpt-4o-mini"] and entry["tokens_today"] > 0 and entry["spend_today_usd"] > 0
    assert entry["last_used_at"] is not None
    changed = client.patch("/admin/api/tokens/mobile-app", json={"spend_limit": "0.000001/day"}, headers=bearer(ADMIN))
    assert changed.status_code == 200 and changed.get_json()["spend_limit"] == "0.000001/day"
    assert changed.get_json()["models"] == ["gpt-4o-mini"]  # a change leaves the other fields as they were
    refused = client.post("/chat", json={"message": "hi"}, headers=bearer(token))
    assert refused.status_code == 429 and "Spend limit" in refused.get_json()["error"]
    assert client.delete("/admin/api/tokens/mobile-app", headers=bearer(ADMIN)).get_json()["state"] == "revoked"
    assert client.post("/chat", json={"message": "hi"}, headers=bearer(token)).status_code == 401
    audit = client.get("/admin/api/audit", headers=bearer(ADMIN)).get_json()["audit"]
    assert [(line["action"], line["target"]) for line in audit] == [
        ("revoke token", "mobile-app"),
        ("change token", "mobile-app"),
        ("create token", "mobile-app"),
    ]
    assert all(line["who"].startswith("token:") for line in audit) and token not in str(audit)


def test_a_stored_admin_token_administers(client):
    made = client.post("/admin/api/tokens", json={"name": "lead", "admin": True}, headers=bearer(ADMIN))
    assert client.get("/admin/api/tokens", headers=bearer(made.get_json()["token"])).status_code == 200


@pytest.mark.parametrize(
    "body, status, said",
    [
        ({"name": "bad name!"}, 400, "a token's name is 1 to 64"),
        ({"name": "ok", "rate_limit": "lots"}, 400, "rate_limit: 'lots' is not a limit"),
        ({"name": "ok", "spend_limit": "five"}, 400, "spend_limit"),
        ({"name": "ok", "expires_in": "soon"}, 400, "expires_in"),
        ({"name": "ok", "colour": "red"}, 400, "colour"),
    ],
)
def test_a_bad_token_is_refused_naming_what_is_wrong(client, body, status, said):
    answer = client.post("/admin/api/tokens", json=body, headers=bearer(ADMIN))
    assert answer.status_code == status and said in answer.get_json()["error"]


def test_a_name_taken_is_a_conflict_and_an_unknown_token_is_not_found(client):
    assert client.post("/admin/api/tokens", json={"name": "twice"}, headers=bearer(ADMIN)).status_code == 201
    assert client.post("/admin/api/tokens", json={"name": "twice"}, headers=bearer(ADMIN)).status_code == 409
    assert client.patch("/admin/api/tokens/nobody", json={}, headers=bearer(ADMIN)).status_code == 404
    assert client.delete("/admin/api/tokens/nobody", headers=bearer(ADMIN)).status_code == 404


def test_the_cli_and_the_api_agree(admin_app):
    client, runner = admin_app.test_client(), admin_app.test_cli_runner()
    assert runner.invoke(args=["tokens", "create", "from-cli", "--rate-limit", "5/minute"]).exit_code == 0
    client.post("/admin/api/tokens", json={"name": "from-api", "token_limit": "100/day"}, headers=bearer(ADMIN))
    client.patch("/admin/api/tokens/from-cli", json={"models": ["gpt-4o"]}, headers=bearer(ADMIN))
    listed = {t["name"]: t for t in client.get("/admin/api/tokens", headers=bearer(ADMIN)).get_json()["tokens"]}
    assert listed["from-cli"]["rate_limit"] == "5/minute" and listed["from-cli"]["models"] == ["gpt-4o"]
    lines = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert any(line.startswith("from-api\tactive") and "tokens 100/day" in line for line in lines)
    assert any(line.startswith("from-cli\tactive") and "models gpt-4o" in line for line in lines)
    assert runner.invoke(args=["tokens", "revoke", "from-api"]).exit_code == 0
    listed = {t["name"]: t for t in client.get("/admin/api/tokens", headers=bearer(ADMIN)).get_json()["tokens"]}
    assert listed["from-api"]["state"] == "revoked"


def test_an_upstream_rested_here_is_avoided_until_it_is_resumed(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A"), table("b", b.base_url, "KEY_B"), ADMIN_TOKENS=ADMIN)
    rested = client.post("/admin/api/upstreams/a/rest", json={"seconds": 600}, headers=bearer(ADMIN))
    assert rested.status_code == 200 and rested.get_json()["resting_until"]
    assert [chat(client, **bearer(ADMIN)).status_code for _ in range(6)] == [200] * 6
    assert len(a.chat_requests()) == 0 and len(b.chat_requests()) == 6
    states = {u["name"]: u for u in client.get("/admin/api/upstreams", headers=bearer(ADMIN)).get_json()["upstreams"]}
    assert states["a"]["resting"] and states["a"]["why"] == "rested by an admin" and not states["b"]["resting"]
    assert states["b"]["stats"]["5m"]["calls"] == 6 and states["b"]["stats"]["5m"]["error_rate"] == 0
    assert states["b"]["stats"]["60m"]["p50_ms"] is not None and states["a"]["stats"]["5m"]["calls"] == 0
    assert client.post("/admin/api/upstreams/a/resume", headers=bearer(ADMIN)).status_code == 200
    assert [chat(client, **bearer(ADMIN)).status_code for _ in range(20)] == [200] * 20
    assert len(a.chat_requests()) > 0
    audit = client.get("/admin/api/audit", headers=bearer(ADMIN)).get_json()["audit"]
    assert [line["action"] for line in audit] == ["resume upstream", "rest upstream"]
    assert client.post("/admin/api/upstreams/zz/rest", json={}, headers=bearer(ADMIN)).status_code == 404


def test_a_single_upstream_never_rests(client):
    answer = client.post("/admin/api/upstreams/default/rest", json={"seconds": 60}, headers=bearer(ADMIN))
    assert answer.status_code in (404, 409)
    (only,) = client.get("/admin/api/upstreams", headers=bearer(ADMIN)).get_json()["upstreams"]
    rest = client.post(f"/admin/api/upstreams/{only['name']}/rest", json={"seconds": 60}, headers=bearer(ADMIN))
    assert rest.status_code == 409 and "single upstream never rests" in rest.get_json()["error"]


def test_recent_calls_newest_first_without_content_filtered_and_paged(client, upstream):
    client.post("/chat", json={"message": "the secret plan"}, headers=bearer(PLAIN))
    upstream.queue(status=500)
    assert (
        client.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}, headers=bearer(PLAIN)
        ).status_code
        == 502
    )
    stream = client.post("/chat/stream", json={"message": "hi"}, headers=bearer(PLAIN))
    assert stream.get_data()
    calls = client.get("/admin/api/calls", headers=bearer(ADMIN)).get_json()
    assert calls["total"] == 3 and calls["kept"] == 1000
    newest, failed, first = calls["calls"]
    assert (newest["surface"], newest["stream"], newest["ended"]) == ("/chat/stream", True, "finished")
    assert (failed["status"], failed["model"], failed["surface"]) == (502, "gpt-4o", "/v1/chat/completions")
    assert failed["attempts"] and failed["attempts"][0][1] != "ok"
    assert (first["status"], first["model"], first["stream"], first["cached"]) == (200, "gpt-4o-mini", False, False)
    assert first["prompt_tokens"] > 0 and first["cost_usd"] > 0 and first["upstream"] and first["ttfb_ms"] is not None
    assert first["caller"].startswith("token:") and first["request_id"]
    assert "secret plan" not in str(calls)  # no content is kept
    by_status = client.get("/admin/api/calls?status=502", headers=bearer(ADMIN)).get_json()["calls"]
    assert [c["request_id"] for c in by_status] == [failed["request_id"]]
    assert client.get("/admin/api/calls?status=5xx", headers=bearer(ADMIN)).get_json()["total"] == 1
    assert client.get("/admin/api/calls?status=error", headers=bearer(ADMIN)).get_json()["total"] == 1
    assert client.get("/admin/api/calls?model=gpt-4o-mini", headers=bearer(ADMIN)).get_json()["total"] == 2
    page = client.get("/admin/api/calls?limit=1&offset=1", headers=bearer(ADMIN)).get_json()
    assert [c["request_id"] for c in page["calls"]] == [failed["request_id"]] and page["total"] == 3
    assert client.get("/admin/api/calls?limit=0", headers=bearer(ADMIN)).status_code == 400
    assert client.get("/admin/api/calls?offset=x", headers=bearer(ADMIN)).status_code == 400


def test_a_cache_hit_and_a_refusal_are_calls_too(make_app, upstream):
    client = make_app(admin_tokens=(ADMIN,), api_tokens=(PLAIN,), cache_ttl=3600, rate_limit="2/minute").test_client()
    for _ in range(3):
        client.post("/chat", json={"message": "hi"}, headers=bearer(PLAIN))
    calls = client.get("/admin/api/calls", headers=bearer(ADMIN)).get_json()["calls"]
    assert [(c["status"], c["cached"]) for c in calls] == [(429, False), (200, True), (200, False)]
    assert calls[1]["model"] == "gpt-4o-mini"


def test_the_ring_keeps_its_bound(make_app, upstream):
    client = make_app(admin_tokens=(ADMIN,), recent_calls=3).test_client()
    for number in range(5):
        client.post("/chat", json={"message": f"question {number}"}, headers=bearer(ADMIN))
    calls = client.get("/admin/api/calls", headers=bearer(ADMIN)).get_json()
    assert calls["total"] == 3 and calls["kept"] == 3


def test_two_instances_on_redis_share_one_ring_and_its_bound(make_app, upstream, redis_url):
    apps = [make_app(admin_tokens=(ADMIN,), recent_calls=4, redis_url=redis_url) for _ in range(2)]
    before = {
        c["request_id"]
        for c in apps[0].test_client().get("/admin/api/calls", headers=bearer(ADMIN)).get_json()["calls"]
    }
    sent = []
    for number in range(6):
        answer = apps[number % 2].test_client().post("/chat", json={"message": f"q {number}"}, headers=bearer(ADMIN))
        sent.append(answer.headers["X-Request-ID"])
    for app in apps:
        calls = app.test_client().get("/admin/api/calls", headers=bearer(ADMIN)).get_json()["calls"]
        assert [c["request_id"] for c in calls] == sent[::-1][:4] and not before & {c["request_id"] for c in calls}


def test_no_call_is_kept_with_recent_calls_off(make_app, upstream):
    client = make_app(admin_tokens=(ADMIN,), recent_calls=0).test_client()
    assert client.post("/chat", json={"message": "hi"}, headers=bearer(ADMIN)).status_code == 200
    assert client.get("/admin/api/calls", headers=bearer(ADMIN)).get_json() == {"calls": [], "total": 0, "kept": 0}


def test_a_token_made_on_one_instance_works_on_another_at_once(make_app, tmp_path, upstream):
    shared = {"admin_tokens": (ADMIN,), "db_path": str(tmp_path / "shared.sqlite3")}
    maker, other = make_app(**shared).test_client(), make_app(**shared).test_client()
    assert other.post("/chat", json={"message": "hi"}, headers=bearer(ADMIN)).status_code == 200  # tokens read
    token = maker.post("/admin/api/tokens", json={"name": "fresh"}, headers=bearer(ADMIN)).get_json()["token"]
    assert other.post("/chat", json={"message": "hi"}, headers=bearer(token)).status_code == 200
