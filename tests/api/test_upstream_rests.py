"""No single call rests a shared upstream: Retry-After is bounded, a caller's own key moves nothing shared, a 429
rests one model, a request too large is the caller's answer, and only several failed calls open the breaker."""

import calendar
import time

import pytest

from chatgate.storage import current_storage
from chatgate.storage.keys import storage_key
from tests.support.keys import client_key
from tests.support.upstreams_file import chat, table


def state_of(client, upstream: str) -> str:
    return client.get("/health/ready").get_json()["upstreams"][upstream]


def epoch(instant: str) -> float:
    """Readiness's `2026-12-06T17:44:27Z` as seconds since the epoch."""
    return calendar.timegm(time.strptime(instant, "%Y-%m-%dT%H:%M:%SZ"))


def rate_limited_until(client, upstream: str, model: str) -> float | None:
    """When readiness says `model` may go to `upstream` again (None: it is not rate limited there)."""
    for part in state_of(client, upstream).partition("rate limited on ")[2].split(", "):
        name, _, until = part.partition(" until ")
        if name == model:
            return epoch(until)
    return None


def until_readiness_says(client, upstream: str, wanted) -> None:
    """Ask readiness until `wanted(state)` holds, for at most 10 s: a worker trusts its copy of the rests for half
    a second."""
    deadline = time.monotonic() + 10
    while not wanted(state_of(client, upstream)):
        assert time.monotonic() < deadline, f"readiness never said it of {upstream}"


def http_date(seconds_from_now: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + seconds_from_now))


@pytest.mark.parametrize(
    "retry_after, rest",
    [
        ("1e12", 10),  # the year 33715: capped at UPSTREAM_MAX_REST
        ("inf", 5),  # not a number of seconds: the first back-off
        ("nan", 5),
        ("-30", 5),
        ("soon", 5),
        ("0", 5),
        (-600.0, 5),  # an HTTP date, already past
        (8.0, 8),  # an HTTP date, 8 s ahead
        ("3", 3),
        ("1", 1),
    ],
)
def test_a_429_rests_its_model_for_its_retry_after_bounded_and_readiness_never_fails(serve, a, b, retry_after, rest):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"), UPSTREAM_MAX_REST="10"
    )
    a.queue(status=429, retry_after=http_date(retry_after) if isinstance(retry_after, float) else retry_after)
    asked = time.time()
    assert chat(client).status_code == 200  # b answered
    until = rate_limited_until(client, "a", "gpt-4o-mini")
    assert until is not None and asked + rest - 2 <= until <= time.time() + rest + 1
    assert client.get("/health/ready").status_code == 200


def test_a_429_rests_only_the_model_it_was_about(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    a.queue(status=429, retry_after="30")
    assert chat(client, "gpt-4o-mini").status_code == 200
    assert [chat(client, "gpt-4o").status_code for _ in range(3)] == [200] * 3
    assert [r.body["model"] for r in a.chat_requests()] == ["gpt-4o-mini", "gpt-4o", "gpt-4o", "gpt-4o"]
    assert chat(client, "gpt-4o-mini").status_code == 200 and len(a.chat_requests()) == 4  # still resting


def test_the_429_passed_back_carries_a_bounded_retry_after(make_app, upstream):
    client = make_app(upstream_max_rest=60).test_client()
    upstream.queue(status=429, retry_after="1e12")
    answer = chat(client)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "60"
    upstream.queue(status=429, retry_after="inf")
    assert "Retry-After" not in chat(client).headers


def test_a_request_too_large_is_the_callers_answer_and_rests_nothing(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    message = "Request too large for gpt-4o-mini on tokens per min (TPM): Limit 30000, Requested 95000."
    a.queue(status=429, retry_after="20", error_message=message, error_type="tokens")
    answer = chat(client)
    assert answer.status_code == 429 and "Retry-After" not in answer.headers
    assert "too large" in answer.get_json()["error"]["message"] and not b.chat_requests()
    assert rate_limited_until(client, "a", "gpt-4o-mini") is None
    assert chat(client).status_code == 200 and len(a.chat_requests()) == 2


@pytest.mark.parametrize("status", [429, 401, 500])
def test_what_happens_on_a_callers_own_key_moves_nothing_shared(serve, a, b, status):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000, client_keys=True),
        table("b", b.base_url, "KEY_B", client_keys=True),
        UPSTREAM_FAILURES_TO_REST="1",
    )
    own = client_key()
    for _ in range(3):
        a.queue(status=status, retry_after="60")
        chat(client, **{"X-OpenAI-Key": own})
    assert state_of(client, "a") == "ok"
    before = len(a.chat_requests())
    assert chat(client).status_code == 200 and len(a.chat_requests()) == before + 1  # the server's key still goes


def test_two_calls_that_choke_the_upstream_rest_nothing_and_a_third_opens_the_breaker(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        fallbacks='"gpt-4o" = ["gpt-4o-mini"]\n',
    )
    for _ in range(2):  # each call tries a twice: one failed call, however many attempts
        with a.behave(status=500):
            assert chat(client, "gpt-4o").headers["X-Fallback-Model"] == "gpt-4o-mini"
    assert len(a.chat_requests()) == 4
    assert not state_of(client, "a").startswith("resting")
    assert chat(client, "gpt-4o").status_code == 200 and len(a.chat_requests()) == 5  # not resting: asked again
    with a.behave(status=500):
        chat(client, "gpt-4o")
    assert state_of(client, "a").startswith("resting until")
    assert chat(client, "gpt-4o").headers["X-Fallback-Model"] == "gpt-4o-mini" and len(a.chat_requests()) == 7


def test_failed_calls_count_across_workers_sharing_the_store(serve, a, b):
    tables = table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B")
    first, second = serve(*tables), serve(*tables)  # two workers: one SQLite file
    with a.behave(status=502):
        chat(first), chat(second), chat(first)
    assert len(a.chat_requests()) == 3
    until_readiness_says(second, "a", lambda state: state.startswith("resting"))  # the other worker saw it
    assert chat(second).status_code == 200 and len(a.chat_requests()) == 3


def test_an_upstream_that_recovers_is_back_at_its_first_success(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000),
        table("b", b.base_url, "KEY_B"),
        UPSTREAM_FAILURES_TO_REST="1",
        UPSTREAM_MAX_REST="1",
    )
    with a.behave(status=503):
        chat(client)
    assert state_of(client, "a").startswith("resting until")
    until_readiness_says(client, "a", lambda state: state == "failing")  # the rest ended
    assert chat(client).status_code == 200 and len(a.chat_requests()) == 2
    assert state_of(client, "a") == "ok"


def test_a_rest_stored_as_infinity_by_an_older_version_is_bounded(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A"), table("b", b.base_url, "KEY_B"))
    with client.application.app_context():
        current_storage().rests().rest("a", float("inf"), 1)
        current_storage().rests().rest("b", 1e300, 1)
    ready = client.get("/health/ready")
    assert ready.status_code in (200, 503) and set(ready.get_json()["upstreams"]) == {"a", "b"}
    assert state_of(client, "a") == "failing"  # not a number of seconds: no rest at all
    assert 0 < resting_for(client, "b") <= 60 + 1  # at most UPSTREAM_MAX_REST (60 s) from now


def test_a_model_rested_by_one_worker_is_not_sent_there_by_another(serve, a, b):
    tables = table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B")
    first, second = serve(*tables), serve(*tables)  # two workers: one SQLite file
    with a.behave(status=429, retry_after="30"):
        assert chat(first, "gpt-4o").status_code == 200  # b answered it
    until_readiness_says(second, "a", lambda state: "rate limited on gpt-4o" in state)
    assert chat(second, "gpt-4o").status_code == 200 and len(a.chat_requests()) == 1
    assert chat(second, "gpt-4o-mini").status_code == 200 and len(a.chat_requests()) == 2


@pytest.mark.parametrize("window, seconds", [("1", 1), ("2.5", 3)])
def test_failed_calls_are_counted_in_a_window_of_whole_seconds_of_its_length(serve, a, b, window, seconds):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000),
        table("b", b.base_url, "KEY_B"),
        UPSTREAM_FAILURE_WINDOW=window,
    )
    with a.behave(status=502):
        chat(client)
    with client.application.app_context():
        window_ends = current_storage().counters().get_expiry(storage_key("upstream-failures", "a"))
    assert seconds - 1 < window_ends - time.time() <= seconds


def resting_for(client, upstream: str) -> float:
    """Seconds until readiness says `upstream` is back (it gives whole seconds)."""
    return epoch(state_of(client, upstream).removeprefix("resting until ")) - time.time()


def test_a_rest_doubles_while_an_upstream_keeps_failing_up_to_the_longest(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000),
        table("b", b.base_url, "KEY_B"),
        UPSTREAM_FAILURES_TO_REST="1",
        UPSTREAM_MAX_REST="60",
    )
    rests = []
    with a.behave(status=500):
        for _ in range(5):
            assert chat(client).status_code == 200
            rests.append(resting_for(client, "a"))
            with client.application.app_context():  # its rest ends now, its run of failures goes on
                failures = current_storage().rests().states()["a"][1]
                current_storage().rests().rest("a", 0.0, failures)
            until_readiness_says(client, "a", lambda state: state == "failing")
    for rest, expected in zip(rests, (5, 10, 20, 40, 60), strict=True):
        assert expected - 2 <= rest <= expected + 1


def test_failures_are_counted_for_each_upstream_apart(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        UPSTREAM_FAILURES_TO_REST="2",
        UPSTREAM_MAX_RETRIES="0",
    )
    with a.behave(status=502), b.behave(status=502):
        assert chat(client, "gpt-4o").status_code == 502
        assert chat(client, "gpt-4o-mini").status_code == 502
    states = client.get("/health/ready").get_json()["upstreams"]
    assert not states["a"].startswith("resting") and not states["b"].startswith("resting")
