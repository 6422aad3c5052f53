"""Signed-in users: the identity provider's JWTs verified (and every forgery refused), keys rotated without a
restart, the provider away, and each user a caller of their own for limits, usage and ownership."""

import base64
import hashlib
import hmac
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.identity_provider import AUDIENCE, IdentityProvider
from tests.support.keys import secret
from tests.support.servers import free_port

SERVICE_TOKEN = secret("tok-beside-jwt-" + "8" * 30)
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def started_provider():
    provider = IdentityProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def provider(started_provider):
    started_provider.up = True
    return started_provider


@pytest.fixture
def signed_in(make_app, provider):
    """An app that accepts the provider's tokens (keys found by discovery) and one service token."""

    def build(**changes):
        settings = dict(jwt_issuer=provider.issuer, jwt_audience=AUDIENCE, api_tokens=(SERVICE_TOKEN,))
        return make_app(**{**settings, **changes}).test_client()

    return build


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def chat(client, token, **body):
    return client.post("/chat", json={"message": "hi", **body}, headers=bearer(token))


def test_a_valid_token_of_either_key_kind_is_its_user(signed_in, provider, upstream):
    client = signed_in()
    for kid in (provider.kid_of("RS256"), provider.kid_of("ES256")):
        assert chat(client, provider.token("ada", kid)).status_code == 200
    usage = client.get("/usage", headers=bearer(provider.token("ada"))).get_json()
    assert usage["caller"] == "user:ada" and usage["usage"]["gpt-4o-mini"]["calls"] == 2


def _unsigned(provider) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}."


def _signed_with_the_public_key(provider) -> str:
    public = (
        provider.keys[provider.kid_of("RS256")][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300}
    head = {"alg": "HS256", "kid": provider.kid_of("RS256")}
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=") for part in (head, claims)]
    signature = hmac.new(public, b".".join(segments), hashlib.sha256).digest()
    return b".".join([*segments, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()


def _tampered(provider) -> str:
    head, body, signature = provider.token("ada").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def _signed_without(claim: str):
    def forge(provider) -> str:
        kid = provider.kid_of("RS256")
        claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300}
        del claims[claim]
        return jwt.encode(claims, provider.keys[kid][1], algorithm="RS256", headers={"kid": kid})

    return forge


FORGERIES = {  # each with what the refusal says of it
    "expired": (lambda p: p.token(lifetime=-120), "it has expired"),  # past the 30 s leeway
    "not yet valid": (lambda p: p.token(nbf=int(time.time()) + 3600), "it is not valid yet"),
    "wrong issuer": (lambda p: p.token(iss="https://elsewhere.example"), "InvalidIssuerError"),
    "wrong audience": (lambda p: p.token(aud="another-api"), "InvalidAudienceError"),
    "alg none": (_unsigned, "its algorithm 'none' is not accepted"),
    "HS256 with the public key": (_signed_with_the_public_key, "its algorithm 'HS256' is not accepted"),
    "tampered payload": (_tampered, "InvalidSignatureError"),
    "over 16 KB": (lambda p: p.token(padding="x" * 17_000), "it is larger than 16 KB"),
    "no user claim": (lambda p: p.token(sub=None), "InvalidSubjectError"),
    "an empty user claim": (lambda p: p.token(sub=""), "it has no 'sub' claim"),
    "a boolean user claim": (lambda p: p.token(sub=True), "InvalidSubjectError"),
    "no sub at all": (_signed_without("sub"), "it has no 'sub' claim"),
    "no expiry": (_signed_without("exp"), "MissingRequiredClaimError"),
    "not a JWT at all": (lambda p: "abc.def.", "it is not a well-formed JWT"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_every_forgery_is_a_401_with_a_challenge_that_says_why(signed_in, provider, upstream, forgery):
    client = signed_in()
    forge, why = FORGERIES[forgery]
    refused = chat(client, forge(provider))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.get_json()["error"] == f"The bearer token is not a valid sign-in: {why}."
    openai_shape = client.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}, headers=bearer(forge(provider))
    )
    assert openai_shape.get_json()["error"]["code"] == "invalid_token"
    assert upstream.chat_requests() == []


def test_a_token_of_exactly_16_kb_is_read_and_one_byte_more_is_not(signed_in, provider, upstream):
    client = signed_in()
    kid = provider.kid_of("RS256")
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "ada", "exp": int(time.time()) + 300}
    sizes = {}
    for padding in range(11_840, 11_880):  # base64 skips some lengths: a header field's length shifts the rest
        for shift in ("", "y", "yy", "yyy"):
            headers = {"kid": kid, "shift": shift}
            token = jwt.encode({**claims, "padding": "x" * padding}, provider.keys[kid][1], "RS256", headers)
            sizes.setdefault(len(token), token)
    assert chat(client, sizes[16 * 1024]).status_code == 200
    assert chat(client, sizes[16 * 1024 + 1]).status_code == 401


def test_a_token_just_expired_is_within_the_leeway(signed_in, provider, upstream):
    assert chat(signed_in(), provider.token(lifetime=-10)).status_code == 200  # JWT_LEEWAY is 30 s
    assert chat(signed_in(jwt_leeway=0), provider.token(lifetime=-10)).status_code == 401


def test_hs256_signed_with_the_public_key_is_refused_even_when_the_allow_list_names_hs256(
    signed_in, provider, upstream
):
    client = signed_in(jwt_algorithms=("RS256", "HS256"))  # allowed, but no shared secret: HMAC has no key here
    refused = chat(client, _signed_with_the_public_key(provider))
    assert refused.status_code == 401 and "its algorithm 'HS256' is not accepted" in refused.get_json()["error"]


def test_alg_none_is_refused_even_when_the_allow_list_names_it(signed_in, provider, upstream):
    client = signed_in(jwt_algorithms=("none", "NONE", "RS256"))
    refused = chat(client, _unsigned(provider))
    assert refused.status_code == 401 and "its algorithm 'none' is not accepted" in refused.get_json()["error"]


def test_a_provider_with_one_key_may_leave_kid_out(make_app, upstream, tmp_path):
    single = IdentityProvider()
    del single.keys[single.kid_of("ES256")]
    single.start()
    try:
        client = make_app(jwt_issuer=single.issuer, jwt_audience=AUDIENCE).test_client()
        assert chat(client, single.token("ada", named=False)).status_code == 200
        single.add_key("RS256")  # two keys now: a token without kid names none of them
        another_store = str(tmp_path / "another.sqlite3")  # a fresh worker: no keys fetched, no failures counted
        refetched = make_app(jwt_issuer=single.issuer, jwt_audience=AUDIENCE, db_path=another_store).test_client()
        assert chat(refetched, single.token("ada", named=False)).status_code == 401
    finally:
        single.stop()


def test_an_issuer_with_a_trailing_slash_is_discovered_once(make_app, provider, upstream):
    client = make_app(jwt_issuer=provider.issuer + "/", jwt_audience=AUDIENCE, jwt_refetch_seconds=0).test_client()
    discovered = provider.discoveries
    assert chat(client, provider.token(iss=provider.issuer + "/")).status_code == 200
    kid = provider.add_key("RS256")  # a rotation: the key set again, the discovery document not
    assert chat(client, provider.token(kid=kid, iss=provider.issuer + "/")).status_code == 200
    assert provider.discoveries == discovered + 1
    assert "/.well-known/openid-configuration" in provider.paths and not any("//" in p for p in provider.paths)


def test_a_jwks_url_is_used_without_discovery(make_app, provider, upstream):
    elsewhere = f"http://127.0.0.1:{free_port()}"  # an issuer with no discovery document to find
    client = make_app(
        jwt_issuer=elsewhere, jwt_audience=AUDIENCE, jwt_jwks_url=provider.issuer + "/jwks.json"
    ).test_client()
    assert chat(client, provider.token(iss=elsewhere)).status_code == 200


def test_an_algorithm_outside_the_allow_list_is_refused_though_well_signed(signed_in, provider, upstream):
    client = signed_in(jwt_algorithms=("ES256",))
    assert chat(client, provider.token("ada", provider.kid_of("ES256"))).status_code == 200
    refused = chat(client, provider.token("ada", provider.kid_of("RS256")))
    assert refused.status_code == 401 and "algorithm 'RS256' is not accepted" in refused.get_json()["error"]


def test_with_sign_in_on_a_made_up_service_token_is_still_refused(signed_in, provider, upstream):
    client = signed_in()
    refused = chat(client, secret("tok-made-up-" + "5" * 30))
    assert refused.status_code == 401 and upstream.chat_requests() == []
    assert "sign-in token" in refused.get_json()["error"]
    assert chat(client, SERVICE_TOKEN).status_code == 200


def test_an_unknown_key_and_a_key_url_inside_the_token_are_refused_without_fetching_it(signed_in, provider, upstream):
    attacker = IdentityProvider().start()
    try:
        client = signed_in()
        assert chat(client, provider.token()).status_code == 200  # the provider's keys are known now
        kid = attacker.kid_of("RS256")
        algorithm, private = attacker.keys[kid]
        claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300}
        token = jwt.encode(
            claims,
            private,
            algorithm=algorithm,
            headers={"kid": kid, "jku": attacker.issuer + "/jwks.json", "x5u": attacker.issuer},
        )
        assert chat(client, token).status_code == 401
        assert attacker.fetches == 0
    finally:
        attacker.stop()


def test_bad_kids_cannot_hammer_the_provider(signed_in, provider, upstream):
    client = signed_in()  # the keys are fetched at most once every 5 s
    assert chat(client, provider.token()).status_code == 200
    fetched = provider.fetches
    _, body, signature = provider.token().split(".")
    for number in range(10):
        head = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": f"nope-{number}"}).encode())
        refused = chat(client, f"{head.rstrip(b'=').decode()}.{body}.{signature}")
        assert refused.status_code == 401
        assert refused.get_json()["error"] == (
            "The bearer token is not a valid sign-in: it names a key the identity provider does not publish."
        )
    assert provider.fetches - fetched <= 1


def test_tokens_waiting_on_one_new_key_are_all_served_by_one_fetch(signed_in, provider, upstream):
    client = signed_in(jwt_refetch_seconds=0)  # each waiter could fetch again: it must find the key fetched already
    assert chat(client, provider.token("ada")).status_code == 200
    provider.hold = threading.Event()
    kid, answers = provider.add_key("ES256"), []
    fetches = provider.fetches
    askers = [
        threading.Thread(target=lambda name=name: answers.append(chat(client, provider.token(name, kid)).status_code))
        for name in ("bob", "cy", "dee")
    ]
    try:
        for asker in askers:
            asker.start()
        deadline = time.monotonic() + 10
        while provider.fetches == fetches:  # one of them is fetching; the others wait for it
            assert time.monotonic() < deadline
    finally:
        provider.hold.set()
        for asker in askers:
            asker.join()
        provider.hold = None
    assert answers == [200, 200, 200] and provider.fetches == fetches + 1


def test_a_rotated_key_works_without_a_restart(signed_in, provider, upstream):
    client = signed_in(jwt_refetch_seconds=0)  # no window to wait out here: the one above tests it
    assert chat(client, provider.token()).status_code == 200
    fetched = provider.fetches
    kid = provider.add_key("RS256")  # published from now on
    assert chat(client, provider.token("grace", kid)).status_code == 200
    assert provider.fetches == fetched + 1


def test_with_the_provider_away_known_keys_work_new_ones_are_503_and_service_tokens_are_untouched(
    signed_in, provider, upstream
):
    client = signed_in(jwt_refetch_seconds=0)
    assert chat(client, provider.token()).status_code == 200
    provider.up = False
    kid = provider.add_key("ES256")
    assert chat(client, provider.token("ada")).status_code == 200  # its key is known
    away = chat(client, provider.token("ada", kid))
    assert away.status_code == 503 and "identity provider could not be reached" in away.get_json()["error"]
    assert chat(client, SERVICE_TOKEN).status_code == 200


def test_a_provider_down_from_the_start_is_a_503_never_a_500(make_app, provider, upstream):
    provider.up = False
    client = make_app(jwt_issuer=provider.issuer, jwt_audience=AUDIENCE).test_client()
    away = chat(client, provider.token())
    assert away.status_code == 503
    assert away.get_json()["error"] == "The identity provider could not be reached to check this token."


@pytest.mark.parametrize("refetch", [5.0, 0.0])
def test_a_provider_away_is_never_a_401_nor_a_failed_authentication(make_app, provider, upstream, refetch):
    provider.up = False  # this worker has never fetched the keys
    client = make_app(
        jwt_issuer=provider.issuer,
        jwt_audience=AUDIENCE,
        api_tokens=(SERVICE_TOKEN,),
        auth_failure_limit="5/minute",
        jwt_refetch_seconds=refetch,
    ).test_client()
    answers = [chat(client, provider.token(f"user-{n}")) for n in range(12)]
    assert [a.status_code for a in answers] == [503] * 12
    assert {a.get_json()["error"] for a in answers} == {
        "The identity provider could not be reached to check this token."
    }
    assert chat(client, SERVICE_TOKEN).status_code == 200  # the address is not locked out
    provider.up = True


def test_a_hanging_key_fetch_does_not_stall_users_whose_key_is_known(signed_in, provider, upstream):
    client = signed_in(jwt_refetch_seconds=0)
    assert chat(client, provider.token("ada")).status_code == 200  # the keys are known now
    provider.hold = threading.Event()
    new_key, waiting = provider.add_key("ES256"), []
    try:
        fetching = threading.Thread(target=lambda: waiting.append(chat(client, provider.token("bob", new_key))))
        fetches = provider.fetches
        fetching.start()
        deadline = time.monotonic() + 10
        while provider.fetches == fetches:  # bob's token is waiting on the key set now
            assert time.monotonic() < deadline
        assert chat(client, provider.token("ada")).status_code == 200
        assert waiting == []  # answered while the fetch still hangs
    finally:
        provider.hold.set()
        fetching.join()
        provider.hold = None


@pytest.mark.parametrize("hanging", ["hold", "hold_discovery"])
def test_a_provider_that_never_answers_is_a_503_once_jwt_fetch_timeout_passes(make_app, provider, upstream, hanging):
    client = make_app(
        jwt_issuer=provider.issuer, jwt_audience=AUDIENCE, jwt_refetch_seconds=0, jwt_fetch_timeout=0.3
    ).test_client()
    setattr(provider, hanging, threading.Event())
    answers = []
    asking = threading.Thread(target=lambda: answers.append(chat(client, provider.token("ada"))))
    try:
        asking.start()
        asking.join(20)  # far past the 0.3 s the fetch may take, far short of the provider's 30 s hang
        assert [a.status_code for a in answers] == [503]
    finally:
        getattr(provider, hanging).set()
        asking.join()
        setattr(provider, hanging, None)


def test_limits_count_per_user(signed_in, provider, upstream):
    client = signed_in(rate_limit="2/minute")
    ada, bob = provider.token("ada"), provider.token("bob")
    assert [chat(client, ada).status_code for _ in range(3)] == [200, 200, 429]
    assert chat(client, bob).status_code == 200


def test_a_user_named_like_another_users_budget_cannot_spend_from_it(signed_in, provider, upstream):
    client = signed_in(token_limit="100/day", spend_limit="0.0001/day")  # 100 tokens; 100 micro-dollars
    alice, mallory = bearer(provider.token("alice")), bearer(provider.token("alice/spend"))
    release = threading.Event()
    with upstream.behave(wait_for=release, hold_after=1):  # mallory's reservation of 91 tokens is held...
        held = client.post("/chat/stream", json={"message": "hi", "max_tokens": 90}, headers=mallory, buffered=False)
        assert held.status_code == 200
        # ...and alice may still reserve 13 micro-dollars of her own 100
        answer = client.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 20}, headers=alice
        )
        release.set()
        held.close()
    assert answer.status_code == 200


def test_what_a_user_makes_is_theirs_alone(signed_in, provider, upstream):
    client = signed_in()
    ada, bob = bearer(provider.token("ada")), bearer(provider.token("bob"))
    made = client.post("/api/chat", json={"developer_message": "d", "user_message": "ada's"}, headers=ada)
    made.get_data()
    session = f"/api/sessions/{made.headers['X-Session-ID']}"
    assert client.get(session, headers=ada).status_code == 200 and client.get(session, headers=bob).status_code == 404
    response = client.post("/v1/responses", json={"model": "gpt-4o", "input": "x"}, headers=ada).get_json()["id"]
    assert client.get(f"/v1/responses/{response}", headers=bob).status_code == 404
    assert client.get(f"/v1/responses/{response}", headers=ada).status_code == 200
    streamed = client.post("/chat/stream", json={"message": "hi"}, headers={**ada, "X-Resumable": "true"})
    streamed.get_data()
    stream = f"/streams/{streamed.headers['X-Stream-ID']}"
    assert client.get(stream, headers=bob).status_code == 404 and client.get(stream, headers=ada).status_code == 200


def test_a_shared_secret_provider_signs_with_hs256(make_app, upstream):
    shared = secret("supabase-jwt-secret-" + "9" * 30)
    client = make_app(
        jwt_issuer="https://project.supabase.co/auth/v1", jwt_audience="authenticated", jwt_secret=shared
    ).test_client()
    claims = {
        "iss": "https://project.supabase.co/auth/v1",
        "aud": "authenticated",
        "sub": "u-1",
        "exp": int(time.time()) + 300,
    }
    assert chat(client, jwt.encode(claims, shared, algorithm="HS256")).status_code == 200
    assert chat(client, jwt.encode(claims, "a-guess-" + "0" * 30, algorithm="HS256")).status_code == 401


def test_bad_tokens_count_as_failed_authentications(signed_in, provider, upstream):
    client = signed_in(auth_failure_limit="3/minute")
    here = {"REMOTE_ADDR": "10.0.0.44"}
    for _ in range(3):
        client.post("/chat", json={"message": "hi"}, headers=bearer(provider.token(lifetime=-120)), environ_base=here)
    refused = client.post("/chat", json={"message": "hi"}, headers=bearer(provider.token("eve")), environ_base=here)
    assert refused.status_code == 429 and "failed authentications" in refused.get_json()["error"]


def test_a_browsers_preflight_for_authorization_passes(signed_in):
    client = signed_in(allow_origins=("https://app.example",))
    preflight = client.options(
        "/chat",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
