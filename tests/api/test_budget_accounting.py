"""Budgets to the micro-dollar and the token: settled at the real cost call after call, each caller's own, a failed
call's reservation given back, a reservation exactly at the budget granted, the default reply reservation."""

import pytest

from tests.support.keys import secret
from tests.support.upstreams_file import HELLO, chat, table

TOKEN_A, TOKEN_B = secret("tok-budget-a-" + "1" * 30), secret("tok-budget-b-" + "2" * 30)
# gpt-4o-mini: $0.15 in, $0.60 out per 1M: this usage costs 150 + 600 = 750 micro-dollars.
COSTLY = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
SMALL = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 9}  # reserves 1 + 9 tokens, 5.55 micro-dollars


def post(client, token=None, body=SMALL):
    headers = {"X-API-Key": token} if token else {}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def test_spend_settles_at_each_calls_real_cost_until_the_budget_is_spent(make_app, upstream):
    client = make_app(spend_limit="0.001/day").test_client()  # 1,000 micro-dollars
    with upstream.behave(usage=COSTLY):
        answers = [post(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    # The second call saw the first's real cost settled: 1,000 - 750 - its own 6 reserved.
    assert answers[1].headers["X-RateLimit-Remaining-Spend"] == "0.000244"
    assert answers[2].headers["X-RateLimit-Remaining-Spend"] == "0.000000"  # 1,500 spent: none left, never less


def test_token_budgets_settle_at_the_real_usage(make_app, upstream):
    client = make_app(token_limit="3000/day").test_client()
    with upstream.behave(usage=COSTLY):
        answers = [post(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["X-RateLimit-Remaining-Tokens"] == str(3000 - 2000 - 10)


@pytest.mark.parametrize("limits", [{"spend_limit": "0.001/day"}, {"token_limit": "3000/day"}])
def test_each_caller_has_a_budget_of_its_own(make_app, upstream, limits):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B), **limits).test_client()
    with upstream.behave(usage=COSTLY):
        spent = [post(client, TOKEN_A).status_code for _ in range(3)]
        other = post(client, TOKEN_B)
    assert spent == [200, 200, 429] and other.status_code == 200


@pytest.mark.parametrize("figure", ["X-RateLimit-Remaining-Spend", "X-RateLimit-Remaining-Tokens"])
def test_a_failed_calls_reservation_is_given_back(make_app, upstream, figure):
    client = make_app(spend_limit="0.001/day", token_limit="3000/day").test_client()
    upstream.queue(status=500)
    failed = post(client)
    assert failed.status_code == 502
    after = post(client)
    assert after.status_code == 200 and after.headers[figure] == failed.headers[figure]


def test_a_refused_spend_gives_back_the_token_reservation(make_app, upstream):
    client = make_app(spend_limit="0.000005/day", token_limit="3000/day").test_client()  # 5 micro-dollars
    refused = post(client)  # its 6 micro-dollars do not fit; its 10 tokens did, and are given back
    assert refused.status_code == 429 and "Spend limit" in refused.get_json()["error"]["message"]
    fits = post(client, body={**SMALL, "max_tokens": 5})  # 1 + 5 tokens, 3.15 micro-dollars
    assert fits.status_code == 200 and fits.headers["X-RateLimit-Remaining-Tokens"] == str(3000 - 6)


def test_a_reservation_exactly_at_the_budget_is_granted(make_app, upstream, tmp_path):
    assert post(make_app(token_limit="10/hour").test_client()).status_code == 200  # 1 + 9 tokens of 10
    smaller = make_app(token_limit="9/hour", db_path=str(tmp_path / "another.sqlite3"))
    assert post(smaller.test_client()).status_code == 429


def test_a_call_without_a_token_cap_reserves_completion_reservation(make_app, upstream):
    client = make_app(token_limit="100/hour", completion_reservation=50).test_client()
    answer = post(client, body={"model": "gpt-4o-mini", "messages": HELLO})
    assert answer.headers["X-RateLimit-Remaining-Tokens"] == str(100 - 1 - 50)
    n_of_them = post(client, body={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 4, "n": 3})
    assert n_of_them.status_code == 200  # 1 + 4 x 3: a cap counts once for each choice
    assert int(n_of_them.headers["X-RateLimit-Remaining-Tokens"]) <= 100 - 13


def test_a_callers_own_key_goes_only_to_the_upstream_that_takes_one_among_those_of_its_model(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B", client_keys=True))
    own = secret("sk-own-key-" + "7" * 40)
    assert all(chat(client, **{"X-OpenAI-Key": own}).status_code == 200 for _ in range(5))
    assert a.chat_requests() == [] and len(b.chat_requests()) == 5
    assert all(own not in str(r.headers) for r in a.requests)


def test_the_spend_headers_show_dollars_to_the_micro_dollar(make_app, upstream):
    answer = post(make_app(spend_limit="5/day").test_client())
    assert answer.headers["X-RateLimit-Limit-Spend"] == "5.000000"
    assert answer.headers["X-RateLimit-Remaining-Spend"] == "4.999994"  # its own 6 micro-dollars held


def test_a_429_that_may_fit_later_invites_a_retry(make_app, upstream):
    client = make_app(token_limit="15/hour").test_client()
    assert post(client).status_code == 200  # 10 reserved, about 17 spent: nothing left
    refused = post(client)
    assert refused.status_code == 429 and "x-should-retry" not in refused.headers
