"""Spend in money: the price table, cost in /usage (cached tokens at their rate), overrides, buckets over time and
CSV, and spend limits in dollars."""

import csv
import io
import threading
import time

import pytest

from chatgate.config import ConfigError, Settings
from chatgate.guard.pricing import Prices
from chatgate.models import EMBEDDING_MODELS, MODELS
from tests.support.keys import secret

HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "model, input_price, output_price",
    [
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4.1", 2.00, 8.00),
        ("gpt-5-nano", 0.05, 0.40),
        ("text-embedding-3-small", 0.02, 0.0),
    ],
)
def test_well_known_prices_per_million_tokens(model, input_price, output_price):
    price = Prices(Settings()).of(model)
    assert (price.input_per_1m, price.output_per_1m) == (input_price, output_price)


def test_every_model_of_the_default_catalogue_and_every_embedding_model_has_a_price():
    table = Prices(Settings())
    assert [model for model in (*MODELS, *EMBEDDING_MODELS) if table.of(model) is None] == []
    assert table.checked == "2026-11-30" and table.source.startswith("https://openai.com/")
    assert table.of("gpt-4o-2024-08-06") == table.of("gpt-4o")  # a dated snapshot has its family's


def test_cached_prompt_tokens_cost_the_cached_rate_and_reasoning_tokens_are_output(client, upstream):
    upstream.queue(
        usage={
            "prompt_tokens": 1_000_000,
            "completion_tokens": 1_000_000,
            "total_tokens": 2_000_000,
            "prompt_tokens_details": {"cached_tokens": 400_000},
            "completion_tokens_details": {"reasoning_tokens": 900_000},
        }
    )
    assert client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}).status_code == 200
    entry = client.get("/usage").get_json()["usage"]["gpt-4o-mini"]
    assert entry["cached_prompt_tokens"] == 400_000
    assert entry["cost_usd"] == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 1.0 * 0.60)


def test_a_prices_file_overrides_and_adds_models_and_a_model_without_a_price_costs_null(make_app, upstream, tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(
        '[models."gpt-4o-mini"]\ninput_per_1m = 1.0\noutput_per_1m = 2.0\n\n'
        '[models."llama3:8b"]\ninput_per_1m = 0\noutput_per_1m = 0\n'
    )
    overrides = Settings.from_env({"PRICES_FILE": str(path)}).price_overrides
    client = make_app(price_overrides=overrides, models=("gpt-4o-mini", "llama3:8b", "mystery")).test_client()
    for model in ("gpt-4o-mini", "llama3:8b", "mystery"):
        assert client.post("/v1/chat/completions", json={"model": model, "messages": HELLO}).status_code == 200
    answer = client.get("/usage").get_json()
    usage = answer["usage"]
    assert usage["gpt-4o-mini"]["cost_usd"] == pytest.approx((1 * 1.0 + 5 * 2.0) / 1e6)
    assert usage["llama3:8b"]["cost_usd"] == 0.0 and usage["mystery"]["cost_usd"] is None
    assert answer["cost_usd"] == pytest.approx(usage["gpt-4o-mini"]["cost_usd"])


@pytest.mark.parametrize(
    "text, named",
    [
        ('[models."x"]\ninput_per_1m = 1\n', "output_per_1m"),
        ('[models."x"]\ninput_per_1m = -1\noutput_per_1m = 1\n', "input_per_1m"),
        ('[models."x"]\ninput_per_1m = 1\noutput_per_1m = 1\nsurprise = 1\n', "surprise"),
        ("[models\n", "PRICES_FILE"),
        ('[models."x"]\ninput_per_1m = nan\noutput_per_1m = 1\n', "input_per_1m"),
        ('[models."x"]\ninput_per_1m = 1\noutput_per_1m = inf\n', "output_per_1m"),
        ('[models."x"]\ninput_per_1m = 1\noutput_per_1m = 1\ncached_input_per_1m = 1e300\n', "cached_input_per_1m"),
    ],
)
def test_a_bad_prices_file_is_one_line_naming_it(tmp_path, text, named):
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PRICES_FILE": str(path)})
    assert str(path) in str(error.value) and named in str(error.value)


def test_usage_in_buckets_over_time_and_as_csv(client, upstream):
    for model in ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o"):
        client.post("/v1/chat/completions", json={"model": model, "messages": HELLO})
    days = client.get("/usage?by=day").get_json()
    assert days["by"] == "day" and days["since"] < days["until"]
    rows = {row["model"]: row for row in days["buckets"]}
    assert rows["gpt-4o-mini"]["calls"] == 2 and rows["gpt-4o"]["calls"] == 1
    assert rows["gpt-4o-mini"]["start"].endswith("T00:00:00Z") and rows["gpt-4o"]["cost_usd"] > 0
    hours = client.get("/usage?by=hour").get_json()["buckets"]
    assert sum(row["calls"] for row in hours) == 3 and all(row["start"].endswith(":00:00Z") for row in hours)
    assert client.get("/usage?by=day&since=2000-01-01&until=2000-01-02").get_json()["buckets"] == []
    sheet = client.get("/usage?by=day&format=csv")
    assert sheet.mimetype == "text/csv"
    read = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert {row["model"]: int(row["calls"]) for row in read} == {"gpt-4o-mini": 2, "gpt-4o": 1}
    totals = list(csv.DictReader(io.StringIO(client.get("/usage?format=csv").get_data(as_text=True))))
    assert {row["model"] for row in totals} == {"gpt-4o-mini", "gpt-4o"} and "cost_usd" in totals[0]


@pytest.mark.parametrize(
    "query, param",
    [
        ("by=week", "by"),
        ("format=xml", "format"),
        ("by=day&since=yesterday", "since"),
        ("by=day&since=2026-02-01&until=2026-01-01", "since"),
        ("by=hour&since=2000-01-01&until=2026-01-01", "since"),
        ("by=day&since=inf", "since"),
        ("by=day&until=-inf", "until"),
        ("by=day&since=nan", "since"),
        ("by=day&until=1e300", "until"),
        ("by=day&since=-5&until=10", "since"),
        ("by=hour&since=253402300000&until=253402400000", "until"),
    ],
)
def test_bad_usage_queries_are_400(client, query, param):
    response = client.get(f"/usage?{query}")
    assert response.status_code == 400 and param in response.get_json()["error"]


def test_a_spend_limit_stops_a_caller_before_the_upstream_while_reservations_are_held(make_app, upstream):
    client = make_app(spend_limit="0.001/day").test_client()  # 1,000 micro-dollars
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 400, "stream": True}  # reserves $0.000241
    release = threading.Event()
    with upstream.behave(wait_for=release, hold_after=1):
        answers = [client.post("/v1/chat/completions", json=body, buffered=False) for _ in range(6)]
        release.set()
        for answer in reversed(answers):
            answer.close()
    assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
    assert len(upstream.chat_requests()) == 4  # the refused ones never left
    refused = answers[-1].get_json()["error"]
    assert refused["message"] == (
        "Spend limit exceeded: at most $0.001000 per day in US dollars. This call may cost up to $0.000241 (its "
        "prompt, estimated, and its max_tokens or 1024); $0.000036 are left. The budget renews in "
        f"{answers[-1].headers['Retry-After']} s."
    )
    assert "x-should-retry" not in answers[-1].headers  # it fits once the held ones settle
    assert time.time() < int(answers[-1].headers["X-RateLimit-Reset-Spend"]) <= time.time() + 86_401
    assert answers[0].headers["X-RateLimit-Limit-Spend"] == "0.001000"
    assert answers[-1].headers["X-RateLimit-Remaining-Spend"] == "0.000036"  # 1000 - 4 x 241 micro-dollars
    settled = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5})
    assert settled.status_code == 200  # the held ones settled to what they really cost


def test_under_a_spend_limit_a_model_without_a_price_is_refused_naming_it(make_app, upstream):
    client = make_app(spend_limit="5/day", models=("gpt-4o-mini", "mystery")).test_client()
    refused = client.post("/v1/chat/completions", json={"model": "mystery", "messages": HELLO})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "model_not_priced"
    assert refused.get_json()["error"]["param"] == "model"
    assert "'mystery' has no price" in refused.get_json()["error"]["message"]
    core = client.post("/chat", json={"message": "hi", "model": "mystery"})
    assert core.status_code == 400 and "PRICES_FILE" in core.get_json()["error"]
    assert upstream.chat_requests() == []


def test_a_stored_token_has_its_own_spend_limit(make_app, upstream):
    app = make_app()
    made = app.test_cli_runner().invoke(args=["tokens", "create", "thrifty", "--spend-limit", "0.0003/hour"])
    token = secret(made.output.strip())
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 400}  # may cost $0.000241
    assert client.post("/v1/chat/completions", json=body, headers=auth).status_code == 200
    assert client.post("/v1/chat/completions", json={**body, "max_tokens": 800}, headers=auth).status_code == 429
    listed = app.test_cli_runner().invoke(args=["tokens", "list"]).output
    assert "spend 0.0003/hour" in listed
    bad = app.test_cli_runner().invoke(args=["tokens", "create", "odd", "--spend-limit", "five"])
    assert bad.exit_code != 0 and "dollars per period" in bad.output


@pytest.mark.parametrize(
    "path, body, tool",
    [
        ("/v1/responses", {"input": "news?", "tools": [{"type": "web_search"}]}, "web_search"),
        ("/v1/responses", {"input": "x", "tools": [{"type": "web_search_preview"}]}, "web_search_preview"),
        (
            "/v1/responses",
            {"input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]},
            "file_search",
        ),
        (
            "/v1/responses",
            {"input": "x", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
            "code_interpreter",
        ),
        ("/v1/responses", {"input": "x", "tools": [{"type": "image_generation"}]}, "image_generation"),
        ("/v1/chat/completions", {"messages": HELLO, "web_search_options": {}}, "web_search"),
    ],
)
def test_under_a_spend_limit_a_hosted_tool_is_refused_naming_it(make_app, upstream, path, body, tool):
    client = make_app(spend_limit="5/day").test_client()
    refused = client.post(path, json={"model": "gpt-4o-mini", **body})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "tool_not_priced"
    assert refused.get_json()["error"]["param"] == "tools"
    assert repr(tool) in refused.get_json()["error"]["message"] and upstream.requests == []
    function = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
    assert (
        client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "x", "tools": [function]}).status_code
        == 200
    )
    assert make_app().test_client().post(path, json={"model": "gpt-4o-mini", **body}).status_code == 200


def test_a_call_that_can_never_fit_the_spend_budget_is_told_not_to_retry(make_app, upstream):
    client = make_app(spend_limit="0.0001/day").test_client()  # 100 micro-dollars: less than one call's worst case
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 400}  # may cost $0.000241
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429 and refused.headers["x-should-retry"] == "false"
    assert refused.headers["Retry-After"] == "86400"  # no window is open: a whole period
    assert refused.get_json()["error"]["message"] == (
        "Spend limit exceeded: at most $0.000100 per day in US dollars. This call may cost up to $0.000241 (its "
        "prompt, estimated, and its max_tokens or 1024), more than the whole budget, so it can never fit: send a "
        "shorter prompt or a lower max_tokens."
    )
    assert upstream.chat_requests() == []


def test_the_spend_and_token_budgets_are_counted_apart_even_when_their_amounts_match(make_app, upstream):
    client = make_app(spend_limit="0.001/day", token_limit="1000/day").test_client()  # 1,000 of each
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 400}
    first = client.post("/v1/chat/completions", json=body)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Remaining-Spend"] == "0.000759"  # 241 micro-dollars reserved, no tokens
    assert int(first.headers["X-RateLimit-Remaining-Tokens"]) == 1000 - 401  # 1 prompt + 400, no dollars
