"""A fallback model passes every check a requested model passes; a caller's own key goes only where an upstream
takes one; a `models = "auto"` upstream serves only what its own list names."""

from tests.support.fake_upstream import INVALID_KEY_PREFIX
from tests.support.keys import client_key, secret
from tests.support.upstreams_file import HELLO, chat, table


def stored_token(client, name: str, *options: str) -> dict:
    made = client.application.test_cli_runner().invoke(args=["tokens", "create", name, *options])
    return {"Authorization": f"Bearer {secret(made.output.strip())}"}


def test_a_fallback_outside_the_tokens_models_is_not_served(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o-mini"]),
        table("b", b.base_url, "KEY_B", models=["o1"]),
        fallbacks='"gpt-4o-mini" = ["o1"]\n',
        UPSTREAM_MAX_RETRIES="0",
    )
    narrow, wide = stored_token(client, "narrow", "--models", "gpt-4o-mini"), stored_token(client, "wide")
    with a.behave(status=500):
        refused = chat(client, "gpt-4o-mini", **narrow)
        anyone = chat(client, "gpt-4o-mini", **wide)  # o1 is the fallback of a token without a model list
    assert refused.status_code == 502 and anyone.headers["X-Fallback-Model"] == "o1"
    assert len(b.chat_requests()) == 1


def test_a_fallback_reserves_at_its_own_price_and_gives_the_first_reservation_back(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o-mini"]),
        table("b", b.base_url, "KEY_B", models=["o1"]),
        fallbacks='"gpt-4o-mini" = ["o1"]\n',
        SPEND_LIMIT="0.01/day",  # gpt-4o-mini's worst case fits many times; o1's ($0.06 a 1,000 tokens) never
        UPSTREAM_MAX_RETRIES="0",
    )
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 1000}
    with a.behave(status=500):
        refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 502 and b.chat_requests() == []
    again = client.post("/v1/chat/completions", json=body)
    assert again.status_code == 200  # the first reservation was given back: the same one is left as before
    assert again.headers["X-RateLimit-Remaining-Spend"] == refused.headers["X-RateLimit-Remaining-Spend"]


def test_an_unpriced_fallback_under_a_spend_limit_and_one_outside_the_catalogue_are_skipped(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o-mini"]),
        table("b", b.base_url, "KEY_B", models=["llama3:8b", "gpt-4o"]),
        fallbacks='"gpt-4o-mini" = ["llama3:8b", "gpt-4o"]\n',
        SPEND_LIMIT="5/day",
        MODELS="gpt-4o-mini,llama3:8b",
        UPSTREAM_MAX_RETRIES="0",
    )
    with a.behave(status=500):
        assert chat(client).status_code == 502  # llama3 has no price, gpt-4o is not offered
    assert b.chat_requests() == []


def test_with_no_upstream_taking_client_keys_a_callers_key_goes_nowhere(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A"), table("b", b.base_url, "KEY_B"))
    own = client_key()
    checked = client.post("/api/test-key", json={"api_key": own})
    assert checked.status_code == 200 and checked.get_json()["valid"] is False
    assert "not accepted by any of its upstreams" in checked.get_json()["message"]
    made = client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "x"}).get_json()["id"]
    before = len(a.requests) + len(b.requests)
    for method, path in (("GET", ""), ("GET", "/input_items"), ("DELETE", "")):
        answer = client.open(f"/v1/responses/{made}{path}", method=method, headers={"X-OpenAI-Key": own})
        assert answer.status_code == 400 and "not accepted" in answer.get_json()["error"]["message"]
    assert len(a.requests) + len(b.requests) == before
    assert all(own not in str(r.headers) for r in (*a.requests, *b.requests))


def test_an_auto_upstream_serves_only_the_models_its_own_list_names(serve, a, b):
    a.models = ["gpt-4o-mini"]
    client = serve(
        f'[[upstreams]]\nname = "a"\nbase_url = "{a.base_url}"\napi_key_env = "KEY_A"\nmodels = "auto"\nweight = 9\n',
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini", "o3"]),
        MODELS="gpt-4o-mini,o3",
    )
    assert [chat(client, "o3").status_code for _ in range(10)] == [200] * 10
    assert [r.body["model"] for r in a.chat_requests()] == []
    assert chat(client, "gpt-4o-mini").status_code == 200
    assert len(a.chat_requests()) + len(b.chat_requests()) == 11


def test_an_auto_upstream_is_the_only_one_of_a_model_it_lists(serve, a, b):
    a.models = ["gpt-4o"]
    client = serve(
        f'[[upstreams]]\nname = "a"\nbase_url = "{a.base_url}"\napi_key_env = "KEY_A"\nmodels = "auto"\n',
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        MODELS="gpt-4o-mini,gpt-4o",
    )
    assert chat(client, "gpt-4o").status_code == 200 and len(a.chat_requests()) == 1


def test_an_auto_upstream_whose_list_cannot_be_read_serves_nothing(serve, a, b):
    client = serve(
        f'[[upstreams]]\nname = "a"\nbase_url = "{a.base_url}"\napi_key_env = "KEY_A"\nmodels = "auto"\nweight = 9\n',
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        MODELS="gpt-4o-mini",
        KEY_A=INVALID_KEY_PREFIX + "a" * 20,  # its list (and anything else) is refused
    )
    assert [chat(client).status_code for _ in range(3)] == [200] * 3 and a.chat_requests() == []
