"""Rate and token limits per caller, the usage ledger, and /metrics, in one process."""

import re
import threading

from tests.support.keys import secret

TOKEN_A = secret("tok-a-" + "1" * 30)
TOKEN_B = secret("tok-b-" + "2" * 30)
ADMIN = secret("adm-" + "3" * 30)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_request_rate_is_per_caller_with_headers(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B), rate_limit="3/minute").test_client()
    statuses = [client.post("/chat", json={"message": "hi"}, headers=auth(TOKEN_A)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.post("/chat", json={"message": "hi"}, headers=auth(TOKEN_B)).status_code == 200
    ok = client.post("/chat", json={"message": "hi"}, headers=auth(TOKEN_B))
    assert ok.headers["X-RateLimit-Limit"] == "3"
    assert ok.headers["X-RateLimit-Remaining"] == "1"
    assert int(ok.headers["X-RateLimit-Reset"]) > 0


def test_over_the_limit_is_429_with_retry_after_in_the_surface_shape(make_app, upstream):
    client = make_app(rate_limit="1/hour").test_client()
    client.post("/chat", json={"message": "hi"})
    refused = client.post("/chat", json={"message": "hi"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.get_json()["error"].startswith("Rate limit exceeded: at most 1 per 1 hour requests.")
    assert len(upstream.chat_requests()) == 1


def test_public_endpoints_are_not_limited(make_app):
    client = make_app(rate_limit="1/hour").test_client()
    assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]


def test_a_concurrent_burst_never_admits_more_than_the_limit(make_app, upstream):
    app = make_app(rate_limit="10/minute")
    results = []

    def call():
        results.append(app.test_client().post("/chat", json={"message": "hi"}).status_code)

    threads = [threading.Thread(target=call) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 10 + [429] * 30


def test_token_limit_refuses_a_call_that_may_not_fit_before_it_spends(make_app, upstream):
    # The fake counts a word a token: "hi" is 1 prompt token, the 5-word reply 5 completion tokens.
    # Each call reserves its prompt estimate (1) and its max_tokens (5), and settles to the real 6.
    client = make_app(token_limit="10/hour").test_client()
    body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429  # 6 spent, and 6 more might not fit in 10
    assert refused.headers["X-RateLimit-Remaining-Tokens"] == "4"
    assert "may cost up to 6 tokens" in refused.get_json()["error"]["message"]
    assert len(upstream.chat_requests()) == 1


def test_streamed_usage_settles_the_reservation(make_app, upstream):
    # No max_tokens: a call reserves COMPLETION_RESERVATION (here 5) and settles to what it really used.
    client = make_app(token_limit="12/hour", completion_reservation=5).test_client()
    for _ in range(2):
        streamed = client.post("/chat/stream", json={"message": "hi"})
        assert streamed.status_code == 200 and b'"done":true' in streamed.data  # 6 a call
    refused = client.post("/chat/stream", json={"message": "hi"})
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining-Tokens"] == "0"
    assert "tokens" in refused.get_json()["error"]
    assert len(upstream.chat_requests()) == 2


def test_ledger_records_plain_streamed_and_abandoned_calls(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, ADMIN), admin_tokens=(ADMIN,)).test_client()
    client.post("/chat", json={"message": "one two"}, headers=auth(TOKEN_A))
    client.post("/chat/stream", json={"message": "three", "model": "gpt-4o"}, headers=auth(TOKEN_A)).get_data()
    release = threading.Event()
    upstream.queue(reply="a b c d", wait_for=release)
    abandoned = client.post(
        "/chat/stream", json={"message": "x" * 40, "model": "gpt-4o"}, headers=auth(TOKEN_A), buffered=False
    )
    abandoned.close()
    release.set()

    mine = client.get("/usage", headers=auth(TOKEN_A)).get_json()
    assert mine["scope"] == "caller" and mine["caller"].startswith("token:")
    assert TOKEN_A not in str(mine)
    assert mine["usage"]["gpt-4o-mini"] == {
        "prompt_tokens": 2,
        "cached_prompt_tokens": 0,
        "completion_tokens": 5,
        "total_tokens": 7,
        "calls": 1,
        "estimated_calls": 0,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
        "cost_usd": 0.0000033,  # 2 x $0.15 + 5 x $0.60 per 1M
        "saved_usd": 0.0,
    }
    # the streamed call counted the upstream's real usage; the abandoned one an estimate (40 chars ~ 10 tokens)
    assert mine["usage"]["gpt-4o"] == {
        "prompt_tokens": 1 + 10,
        "cached_prompt_tokens": 0,
        "completion_tokens": 5,
        "total_tokens": 16,
        "calls": 2,
        "estimated_calls": 1,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
        "cost_usd": 0.0000775,  # 11 x $2.50 + 5 x $10 per 1M
        "saved_usd": 0.0,
    }
    assert mine["cost_usd"] == round(0.0000033 + 0.0000775, 10)
    everyone = client.get("/usage", headers=auth(ADMIN)).get_json()
    assert everyone["scope"] == "all"
    assert everyone["usage"][mine["caller"]] == mine["usage"]


def metric(client, name, **labels):
    text = client.get("/metrics").get_data(as_text=True)
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{name}{{{wanted}}} ([0-9.e+]+)$" if labels else rf"^{name} ([0-9.e+]+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_move_as_calls_are_made(make_app, upstream):
    client = make_app(rate_limit="2/hour").test_client()
    reader = make_app().test_client()  # metrics are per process, so any app of it can read them
    chats = metric(reader, "chat_api_requests_total", method="POST", route="/chat", status="200")
    tokens = metric(reader, "chat_api_tokens_total", model="gpt-4o-mini", kind="completion")
    ttft = metric(reader, "chat_api_time_to_first_token_seconds_count", model="gpt-4o-mini")
    refusals = metric(reader, "chat_api_rate_limit_refusals_total", limit="requests")
    client.post("/chat", json={"message": "hi"})
    client.post("/chat/stream", json={"message": "hi"}).get_data()
    client.post("/chat", json={"message": "hi"})  # refused: 2 per hour, and /metrics does not count
    assert metric(reader, "chat_api_requests_total", method="POST", route="/chat", status="200") == chats + 1
    assert metric(reader, "chat_api_tokens_total", model="gpt-4o-mini", kind="completion") == tokens + 10
    assert metric(reader, "chat_api_time_to_first_token_seconds_count", model="gpt-4o-mini") == ttft + 1
    assert metric(reader, "chat_api_rate_limit_refusals_total", limit="requests") == refusals + 1
    assert metric(reader, "chat_api_open_streams") == 0


BODY = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_every_answer_of_a_key_spending_view_carries_its_figures_errors_too(make_app, upstream):
    client = make_app(rate_limit="10/hour", token_limit="100/hour").test_client()
    upstream.queue(status=502)
    failed = client.post("/v1/chat/completions", json=BODY)  # admitted, then the upstream failed it
    assert failed.status_code == 502
    assert failed.headers["X-RateLimit-Remaining"] == "9" and failed.headers["X-RateLimit-Remaining-Tokens"] == "94"
    invalid = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})  # refused by validation
    assert invalid.status_code == 400 and invalid.headers["X-RateLimit-Remaining"] == "8"
    assert "X-RateLimit-Remaining-Tokens" not in invalid.headers  # it never reached the budget
    streamed = client.post("/v1/chat/completions", json={**BODY, "stream": True})
    assert streamed.headers["X-RateLimit-Remaining"] == "7" and streamed.headers["X-RateLimit-Remaining-Tokens"] == "94"
    listing = client.get("/v1/models")  # spends no key: neither counted nor told
    assert listing.status_code == 200 and not any(h.startswith("X-RateLimit") for h in listing.headers.keys())


def test_a_spend_refusal_carries_the_token_budget_it_gave_back(make_app, upstream):
    client = make_app(token_limit="100/hour", spend_limit="0.000001/day").test_client()
    refused = client.post("/v1/chat/completions", json=BODY)
    assert refused.status_code == 429 and refused.get_json()["error"]["message"].startswith("Spend limit exceeded")
    assert refused.headers["X-RateLimit-Remaining-Tokens"] == "94"  # what the token budget had said...
    again = client.post("/v1/chat/completions", json={**BODY, "max_tokens": 1})  # fits a micro-dollar
    assert again.status_code == 200 and len(upstream.chat_requests()) == 1
    assert again.headers["X-RateLimit-Remaining-Tokens"] == "98"  # ...and gave back: this call's 2 of the whole 100


def test_a_token_refusal_says_its_exact_sentence_and_is_counted_by_its_budget(make_app, upstream):
    client = make_app(token_limit="10/hour").test_client()
    reader = make_app().test_client()
    before = [metric(reader, "chat_api_rate_limit_refusals_total", limit=name) for name in ("tokens", "spend")]
    assert client.post("/v1/chat/completions", json=BODY).status_code == 200  # 6 spent: 4 left
    refused = client.post("/v1/chat/completions", json={**BODY, "max_tokens": 9})  # 10: the whole budget, not more
    renews_in = refused.headers["Retry-After"]
    assert refused.status_code == 429 and "x-should-retry" not in refused.headers  # it fits once the window renews
    assert refused.get_json()["error"]["message"] == (
        f"Rate limit exceeded: at most 10 per 1 hour tokens. Try again in {renews_in} s. This call may cost up to "
        "10 tokens (its prompt, estimated, and its max_tokens or 1024); 4 are left."
    )
    after = [metric(reader, "chat_api_rate_limit_refusals_total", limit=name) for name in ("tokens", "spend")]
    assert after == [before[0] + 1, before[1]]
