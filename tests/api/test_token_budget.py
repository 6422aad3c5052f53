"""A token budget (TOKEN_LIMIT) bounds what a caller spends: no reservation can overflow, reset or dodge it."""

import concurrent.futures
import json
import threading

import pytest

from chatgate.guard.ownership import ownership
from chatgate.routes.schemas.sampling import MOST_TOKENS

HELLO = [{"role": "user", "content": "hi"}]
CHAT = {"developer_message": "d", "user_message": "hi"}
HIDDEN = "x" * 430_000  # about 107,500 tokens of text, outside any message's content
BIG = 2**63 - 1


def post_raw(client, path, body):
    """Sent as the standard library writes it: the app's own encoder refuses integers this large."""
    return client.post(path, data=json.dumps(body), content_type="application/json")


def remaining(response) -> int:
    return int(response.headers["X-RateLimit-Remaining-Tokens"])


# Each surface's token cap, at a size that no 64-bit counter survives (alone, or times n).
HUGE_CAPS = [
    ("/chat", {"message": "hi", "max_tokens": BIG}, "max_tokens", lambda body: body["error"]),
    ("/chat/stream", {"message": "hi", "max_tokens": BIG}, "max_tokens", lambda body: body["error"]),
    ("/api/chat", {**CHAT, "max_tokens": BIG}, "max_tokens", lambda body: str(body["detail"])),
    (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": BIG},
        "max_tokens",
        lambda body: body["error"]["param"],
    ),
    (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "max_completion_tokens": 2**62, "n": 4},
        "max_completion_tokens",
        lambda body: body["error"]["param"],
    ),
    (
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": BIG - 1},
        "max_output_tokens",
        lambda body: body["error"]["param"],
    ),
]


@pytest.mark.parametrize("path, body, param, named", HUGE_CAPS)
def test_a_token_cap_past_the_bound_is_a_client_error_naming_it_on_every_surface(
    make_app, upstream, path, body, param, named
):
    client = make_app(token_limit="2000/hour").test_client()
    response = post_raw(client, path, body)
    assert response.status_code in (400, 422)  # each surface's own status for a bad field
    assert param in named(response.get_json())
    if path.startswith("/v1"):
        assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": MOST_TOKENS}),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": MOST_TOKENS, "n": 128}),
        ("/chat", {"message": "hi", "max_tokens": 2001}),
    ],
)
def test_a_reservation_larger_than_the_budget_neither_spends_nor_refunds(make_app, upstream, path, body):
    client = make_app(token_limit="2000/hour").test_client()
    assert client.post("/chat", json={"message": "hi", "max_tokens": 10}).status_code == 200
    refusals = [client.post(path, json=body) for _ in range(3)]
    assert {r.status_code for r in refusals} == {429}
    assert "more than the whole budget" in json.dumps(refusals[0].get_json())
    before = remaining(refusals[0])
    assert [remaining(r) for r in refusals] == [before] * 3  # none spent, none refunded
    assert len(upstream.requests) == 1
    after = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 10})
    assert after.status_code == 200 and remaining(after) == before - 11  # its own reservation: 1 + 10


def test_refusals_show_the_same_remaining_while_reservations_are_held(make_app, upstream):
    client = make_app(token_limit="100/hour").test_client()
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 40, "stream": True}  # reserves 41 until it ends
    release = threading.Event()
    with upstream.behave(wait_for=release, hold_after=1):
        answers = [client.post("/v1/chat/completions", json=body, buffered=False) for _ in range(5)]
        release.set()
        for answer in reversed(answers):  # one thread: contexts close in the order they nest
            answer.close()
    assert [a.status_code for a in answers] == [200, 200, 429, 429, 429]
    assert [remaining(a) for a in answers[2:]] == [100 - 2 * 41] * 3  # a refusal reserved nothing


# The estimate reads every string the upstream will read.

HIDDEN_PROMPTS = [
    (
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": HELLO,
            "tools": [
                {"type": "function", "function": {"name": "f", "description": HIDDEN, "parameters": {"type": "object"}}}
            ],
        },
    ),
    (
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": HIDDEN}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
        },
    ),
    (
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": HELLO,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"type": "object", "properties": {HIDDEN: {"type": "string"}}},
                    },
                }
            ],
        },
    ),
    (
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": [{"type": "function_call_output", "call_id": "call_1", "output": HIDDEN}]},
    ),
    ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "instructions": HIDDEN}),
]


@pytest.mark.parametrize("path, body", HIDDEN_PROMPTS)
def test_a_prompt_hidden_outside_the_messages_is_counted_against_the_budget(make_app, upstream, path, body):
    client = make_app(token_limit="100000/hour").test_client()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: client.post(path, json=body), range(10)))
    assert {a.status_code for a in answers} == {429}
    assert "may cost up to" in json.dumps(answers[0].get_json())
    assert upstream.requests == []


def test_an_image_counts_as_an_attachment_not_as_its_bytes(make_app, upstream):
    client = make_app(token_limit="5000/hour").test_client()
    image = "data:image/png;base64," + "A" * 200_000
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ],
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize(
    "usage, then",
    [
        ({"prompt_tokens": 1e300, "completion_tokens": -5, "total_tokens": "many"}, 429),  # 2^40 spent: over
        ({"prompt_tokens": 2**70, "completion_tokens": 2**70}, 429),  # 2^40 each, no overflow
        ("garbage", 200),  # no usage at all: metered by estimate, a few tokens
    ],
)
def test_absurd_usage_from_the_upstream_cannot_break_the_budget_or_the_ledger(make_app, upstream, usage, then):
    client = make_app(token_limit="5000/hour").test_client()
    upstream.queue(usage=usage)
    assert client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}).status_code == 200
    assert client.get("/usage").status_code == 200
    assert client.post("/chat", json={"message": "hi", "max_tokens": 5}).status_code == then


def _attachments(count: int, part: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "what are these?"}, *[part] * count]}]


ATTACHED = [
    ("/v1/chat/completions", "messages", {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}),
    ("/v1/chat/completions", "messages", {"type": "file", "file": {"file_id": "file-abc"}}),
    ("/v1/responses", "input", {"type": "input_image", "image_url": "https://x.example/a.png"}),
    ("/v1/responses", "input", {"type": "input_image", "file_id": "file-abc"}),
    ("/v1/responses", "input", {"type": "input_file", "file_url": "https://x.example/a.pdf"}),
    ("/v1/responses", "input", {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA"}),
]


@pytest.mark.parametrize("path, field, part", ATTACHED)
def test_every_image_or_file_part_reserves_an_attachments_worst_case(make_app, upstream, path, field, part):
    client = make_app(token_limit="20000/hour").test_client()
    body = {"model": "gpt-4o-mini", field: _attachments(30, part)}  # 30 attachments: about 30,000 tokens
    refused = client.post(path, json=body)
    assert refused.status_code == 429 and "more than the whole budget" in refused.get_json()["error"]["message"]
    assert upstream.requests == []
    assert client.post(path, json={"model": "gpt-4o-mini", field: _attachments(5, part)}).status_code == 200


def test_a_burst_of_image_urls_cannot_spend_past_a_spend_limit(make_app, upstream):
    client = make_app(spend_limit="0.05/day").test_client()
    part = {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}
    body = {"model": "gpt-4o", "messages": _attachments(500, part), "max_tokens": 10}
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/chat/completions", json=body), range(20)))
    assert {a.status_code for a in answers} == {429} and upstream.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_continuing_a_stored_response_reserves_what_it_holds(make_app, upstream, stream):
    client = make_app(token_limit="30000/hour").test_client()
    long = {"model": "gpt-4o-mini", "input": "w " * 20_000, "stream": stream}  # the upstream counts 20,000 tokens
    made = client.post("/v1/responses", json=long)
    assert made.status_code == 200
    if stream:
        first = next(line for line in made.get_data(as_text=True).splitlines() if line.startswith("data:"))
        response_id = json.loads(first[5:])["response"]["id"]
    else:
        response_id = made.get_json()["id"]
    follow = {"model": "gpt-4o-mini", "input": "and then?", "previous_response_id": response_id}
    refused = client.post("/v1/responses", json=follow)  # ~10,000 left: the 20,000 it carries do not fit
    assert refused.status_code == 429 and len(upstream.requests_to("POST", "/responses")) == 1
    fresh = client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "and then?"})
    assert fresh.status_code == 200  # the same call without the stored response fits


@pytest.mark.parametrize(
    "limits, body, what",
    [
        ({"token_limit": "2000/hour"}, {"message": "hi", "max_tokens": 5000}, "tokens"),
        ({"spend_limit": "0.001/day"}, {"message": "hi", "max_tokens": 5000, "model": "gpt-4o"}, "Spend limit"),
    ],
)
def test_a_call_that_can_never_fit_says_so_and_invites_no_retry(make_app, upstream, limits, body, what):
    client = make_app(**limits).test_client()
    for _ in range(2):  # before any window is open, and inside one
        refused = client.post("/chat", json=body)
        message = refused.get_json()["error"]
        assert refused.status_code == 429 and what in message and "it can never fit" in message
        assert refused.headers["x-should-retry"] == "false" and int(refused.headers["Retry-After"]) > 60
        client.post("/chat", json={"message": "hi", "max_tokens": 5})
    assert len(upstream.chat_requests()) == 2


def test_continuing_a_stored_response_with_nothing_recorded_reserves_nothing_more(make_app, upstream, tmp_path):
    follow = {"model": "gpt-4o-mini", "input": "and then?", "max_output_tokens": 16}
    remaining = []
    for previous in (None, "resp_made_before_tokens_were_recorded"):
        app = make_app(token_limit="1000/hour", db_path=str(tmp_path / f"{previous}.sqlite3"))
        if previous:  # a response made by an older version: owned, with no record of what it holds
            with app.app_context():
                ownership().claim("response", previous, frozenset({"ip:127.0.0.1"}), 3600)
        body = {**follow, "previous_response_id": previous} if previous else follow
        answer = app.test_client().post("/v1/responses", json=body)
        assert answer.status_code == 200
        remaining.append(answer.headers["X-RateLimit-Remaining-Tokens"])
    assert remaining[0] == remaining[1]
