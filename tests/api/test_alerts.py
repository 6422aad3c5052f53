"""Alerts: a caller's budget at 80, 90 and 100% once each per window across workers, an upstream that rests and
comes back, a model none of whose upstreams is awake; signed when asked; a failing webhook never delays a call."""

import hashlib
import hmac
import logging
import time

import pytest

from tests.support.servers import free_port
from tests.support.upstreams_file import chat, table
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def hook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def ask(client, max_tokens, address="127.0.0.1"):
    body = {"model": "gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    return client.post("/v1/chat/completions", json=body, environ_base={"REMOTE_ADDR": address})


def test_each_budget_threshold_is_told_once_a_window_across_workers(make_app, upstream, hook):
    first, second = (make_app(token_limit="100/hour", alert_webhook_url=hook.url).test_client() for _ in range(2))
    assert ask(first, 79).status_code == 200  # 1 + 79 held: 80%
    assert ask(second, 79).status_code == 200  # 6 spent + 80 held: 86%, told already (by the other worker)
    assert ask(first, 83).status_code == 200  # 12 + 84 = 96%: 90%
    assert ask(second, 500).status_code == 429  # can never fit: 100%
    assert ask(first, 500).status_code == 429  # and again: told already
    # Another caller's 80% on each worker: each worker sends in order, so once both are in, all are.
    assert ask(first, 79, "203.0.113.5").status_code == 200 and ask(second, 79, "203.0.113.6").status_code == 200
    alerts = sorted(hook.wait_for(5), key=lambda a: (a["caller"], a["threshold"]))
    assert [(a["event"], a["caller"], a["budget"], a["threshold"]) for a in alerts] == [
        ("budget", "ip:127.0.0.1", "tokens", 80),
        ("budget", "ip:127.0.0.1", "tokens", 90),
        ("budget", "ip:127.0.0.1", "tokens", 100),
        ("budget", "ip:203.0.113.5", "tokens", 80),
        ("budget", "ip:203.0.113.6", "tokens", 80),
    ]
    assert alerts[0]["used"] == 80 and alerts[0]["limit"] == 100 and alerts[0]["window_ends"] > time.time()
    assert alerts[0]["text"] == "[chatgate] ip:127.0.0.1 has used 80% of its tokens budget (80 of 100 tokens)."
    assert alerts[2]["text"].endswith("a call was refused.")


def test_a_spend_budget_is_told_in_micro_dollars(make_app, upstream, hook):
    client = make_app(spend_limit="0.0001/day", alert_webhook_url=hook.url).test_client()  # 100 micro-dollars
    while ask(client, 50).status_code == 200:
        pass
    alerts = hook.wait_for(3)
    assert [(a["budget"], a["threshold"], a["limit"]) for a in alerts] == [
        ("spend", 80, 100),
        ("spend", 90, 100),
        ("spend", 100, 100),
    ]
    assert "micro-dollars" in alerts[0]["text"]


def test_with_a_secret_each_body_is_signed(make_app, upstream, hook):
    client = make_app(token_limit="10/hour", alert_webhook_url=hook.url, alert_webhook_secret="s3cret").test_client()
    ask(client, 500)
    hook.wait_for(1)
    headers, body = hook.received[0]
    assert headers["X-Chatgate-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["Content-Type"] == "application/json"


def test_an_upstream_that_rests_and_comes_back_is_told_each_time(serve, a, b, hook):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000),
        table("b", b.base_url, "KEY_B"),
        UPSTREAM_FAILURES_TO_REST="1",
        UPSTREAM_MAX_REST="1",
        ALERT_WEBHOOK_URL=hook.url,
    )
    with a.behave(status=503):
        assert chat(client).status_code == 200  # b answered
    resting = hook.wait_for(1)[0]
    assert (resting["event"], resting["upstream"]) == ("upstream_resting", "a")
    assert resting["text"].startswith("[chatgate] Upstream a is resting after failures, until ")
    deadline = time.monotonic() + 10
    while len(a.chat_requests()) < 2:  # the rest ends within a second; then a answers again
        assert chat(client).status_code == 200 and time.monotonic() < deadline
    back = hook.wait_for(2)[1]
    assert (back["event"], back["upstream"], back["text"]) == (
        "upstream_back",
        "a",
        "[chatgate] Upstream a answers again.",
    )


def test_a_model_with_every_upstream_resting_is_told(serve, a, b, hook):
    client = serve(
        table("a", a.base_url, "KEY_A"),
        table("b", b.base_url, "KEY_B"),
        UPSTREAM_FAILURES_TO_REST="1",
        UPSTREAM_MAX_RETRIES="0",
        ALERT_WEBHOOK_URL=hook.url,
    )
    with a.behave(status=503), b.behave(status=503):
        chat(client), chat(client)
    assert chat(client).status_code == 503
    alerts = hook.wait_for(3)
    assert sorted(a["event"] for a in alerts) == ["model_unserved", "upstream_resting", "upstream_resting"]
    unserved = next(a for a in alerts if a["event"] == "model_unserved")
    assert (
        unserved["model"] == "gpt-4o-mini"
        and unserved["text"] == "[chatgate] Every upstream of gpt-4o-mini is resting."
    )


def test_a_webhook_that_is_away_never_delays_a_call_and_what_was_lost_is_logged(make_app, upstream, caplog):
    client = make_app(token_limit="10/hour", alert_webhook_url=f"http://127.0.0.1:{free_port()}/hook").test_client()
    with caplog.at_level(logging.WARNING, logger="chatgate.alerts.webhook"):
        assert [ask(client, 500).status_code for _ in range(3)] == [429] * 3
        deadline = time.monotonic() + 15
        while not any("alert not sent after 3 tries" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the lost alert was never logged"
            time.sleep(0.05)
    lost = next(r.getMessage() for r in caplog.records if "alert not sent" in r.getMessage())
    assert "ip:127.0.0.1 has used 100% of its tokens budget" in lost
