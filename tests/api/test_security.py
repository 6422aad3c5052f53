"""What an attacker or a fault can reach, in one process: each test is one finding of the adversarial pass.

The slow-body, start-up and Redis findings need real processes: tests/live/test_security_live.py.
"""

import concurrent.futures
import dataclasses
import json
import threading

import pytest

from chatgate.web.request_log import JsonFormatter, TextFormatter
from tests.support.keys import client_key, secret

TOKEN_A = secret("tok-a-" + "4" * 30)
TOKEN_B = secret("tok-b-" + "5" * 30)
CHAT = {"developer_message": "You are A's assistant.", "user_message": "A's secret question"}
HELLO = [{"role": "user", "content": "hi"}]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post_raw(client, path, body):
    """Sent as the standard library writes it: the app's own encoder refuses what these bodies hold."""
    return client.post(path, data=json.dumps(body), content_type="application/json")


# 1. A session belongs to the caller that created it.


def test_another_token_cannot_see_use_or_delete_a_session(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B)).test_client()
    made = client.post("/api/chat", json=CHAT, headers=auth(TOKEN_A))
    made.get_data()
    session_id = made.headers["X-Session-ID"]
    for method in ("get", "delete"):
        stranger = getattr(client, method)(f"/api/sessions/{session_id}", headers=auth(TOKEN_B))
        assert (stranger.status_code, stranger.get_json()) == (404, {"detail": "Session not found"})
    taken = client.post(
        "/api/chat", json={**CHAT, "session_id": session_id, "user_message": "B here"}, headers=auth(TOKEN_B)
    )
    taken.get_data()
    assert taken.headers["X-Session-ID"] != session_id  # B got a session of its own
    assert "A's secret question" not in str(upstream.last_chat_body())
    mine = client.get(f"/api/sessions/{session_id}", headers=auth(TOKEN_A)).get_json()
    assert mine["developer_message"] == "You are A's assistant." and mine["message_count"] == 2


def test_without_tokens_a_session_is_its_key_holders_or_its_addresses(client, upstream):
    key_a, key_b = client_key(), client_key()
    made = client.post("/api/chat", json={**CHAT, "api_key": key_a}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    made.get_data()
    session = f"/api/sessions/{made.headers['X-Session-ID']}"
    assert client.get(session, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
    assert (
        client.get(session, headers={"X-OpenAI-Key": key_a}, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code
        == 200
    )
    assert (
        client.get(session, headers={"X-OpenAI-Key": key_b}, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code
        == 404
    )
    assert client.delete(session, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 404


def test_session_ids_are_logged_as_a_prefix_only(client, caplog):
    session_id = client.post("/api/sessions", json={}).get_json()["session_id"]
    client.get(f"/api/sessions/{session_id}")
    access = [r.getMessage() for r in caplog.records if r.name == "access"]
    assert any(f"/api/sessions/{session_id[:8]}…" in line for line in access)
    assert session_id not in caplog.text


# 2. TOKEN_LIMIT bounds spending.


def test_one_huge_prompt_is_refused_before_it_spends(make_app, upstream):
    client = make_app(token_limit="5000/hour").test_client()
    refused = client.post("/chat", json={"message": "word " * 800_000})
    assert refused.status_code == 429 and "may cost up to" in refused.get_json()["error"]
    assert upstream.chat_requests() == []


def test_a_parallel_burst_spends_at_most_the_budget(make_app, upstream):
    client = make_app(token_limit="100/hour").test_client()
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5}  # reserves 1 + 5, spends 6
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(lambda _: client.post("/v1/chat/completions", json=body).status_code, range(30)))
    assert statuses.count(200) == 16 and statuses.count(429) == 14  # 16 calls of 6 fit in 100
    assert len(upstream.chat_requests()) == 16


# 3. A caller's requests in flight are capped (the slow-body half is in tests/live/test_security_live.py).


def test_open_streams_hold_their_callers_slots_until_they_end(make_app, upstream):
    client = make_app(max_concurrent_per_caller=2).test_client()
    release = threading.Event()
    with upstream.behave(wait_for=release):
        streams = [client.post("/chat/stream", json={"message": "hi"}, buffered=False) for _ in range(2)]
        refused = client.post("/chat/stream", json={"message": "hi"})
        other = client.post(
            "/chat/stream", json={"message": "hi"}, environ_base={"REMOTE_ADDR": "10.0.0.5"}, buffered=False
        )
        release.set()
        for stream in (other, *reversed(streams)):  # one thread: contexts close in the order they nest
            stream.close()
    assert [s.status_code for s in streams] == [200, 200] and other.status_code == 200
    assert refused.status_code == 429 and "MAX_CONCURRENT_PER_CALLER" in refused.get_json()["error"]
    assert client.post("/chat/stream", json={"message": "hi"}).status_code == 200  # the slots came back


def test_plain_answers_give_their_slot_back_at_once(make_app, upstream):
    client = make_app(max_concurrent_per_caller=2).test_client()
    assert [client.post("/chat", json={"message": "hi"}).status_code for _ in range(5)] == [200] * 5


# 5. A timeout is not retried, and is metered.


def test_a_timeout_is_sent_once_answered_504_and_metered(make_app, upstream):
    client = make_app(upstream_max_retries=2, token_limit="5000/hour", api_tokens=(TOKEN_A,)).test_client()
    upstream.queue(delay=5)
    timed_out = client.post("/chat", json={"message": "x" * 400}, headers=auth(TOKEN_A))
    assert timed_out.status_code == 504
    assert len(upstream.chat_requests()) == 1
    usage = client.get("/usage", headers=auth(TOKEN_A)).get_json()["usage"]["gpt-4o-mini"]
    assert usage == {
        "prompt_tokens": 100,
        "cached_prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 100,
        "calls": 1,
        "estimated_calls": 1,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
        "cost_usd": 0.000015,  # 100 x $0.15 per 1M
        "saved_usd": 0.0,
    }
    budget = client.post("/chat", json={"message": "hi"}, headers=auth(TOKEN_A))
    assert budget.headers["X-RateLimit-Remaining-Tokens"] == str(5000 - 100 - (1 + 1024))  # the timeout counted


def test_a_failing_upstream_is_tried_again_within_the_deadline(make_app, upstream):
    client = make_app(upstream_max_retries=2).test_client()
    upstream.queue(status=503)
    assert client.post("/chat", json={"message": "hi"}).status_code == 200
    assert len(upstream.chat_requests()) == 2


def test_an_upstream_429_is_passed_on_not_multiplied(make_app, upstream):
    client = make_app(upstream_max_retries=2).test_client()
    upstream.queue(status=429, retry_after="7")
    refused = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "7"
    assert len(upstream.chat_requests()) == 1


# 6. Bad input is a 400 naming the parameter, never a 500.


@pytest.mark.parametrize(
    "field, value",
    [("max_tokens", 1e300), ("seed", 18446744073709551616), ("seed", -9223372036854775809), ("n", 2**70)],
)
def test_integers_beyond_64_bits_are_400(client, upstream, field, value):
    response = post_raw(client, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO, field: value})
    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert response.get_json()["error"]["param"] == field
    assert upstream.chat_requests() == []


def _nested(depth: int):
    value = []
    for _ in range(depth):
        value = [value]
    return value


SURFACES = [
    ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO}, lambda b: b["error"]["message"]),
    ("/chat", {"message": "hi"}, lambda b: b["error"]),
    ("/ask", {"messages": HELLO}, lambda b: b["details"]),
    ("/api/chat", CHAT, lambda b: b["detail"]),
]


@pytest.mark.parametrize("path, body, message_of", SURFACES)
def test_deeply_nested_extra_fields_are_400_on_every_surface(client, upstream, path, body, message_of):
    response = post_raw(client, path, {**body, "extra": _nested(300)})
    assert response.status_code == 400
    assert "nested more than 64 levels" in message_of(response.get_json())
    assert upstream.chat_requests() == []


@pytest.mark.parametrize("path, body, message_of", SURFACES[:3])
def test_too_many_messages_are_400_on_every_surface(make_app, upstream, path, body, message_of):
    client = make_app(max_messages=10).test_client()
    many = [{"role": "user", "content": "x"}] * 11
    response = client.post(path, json={**body, "messages": many})
    assert response.status_code == 400 and "at most 10" in message_of(response.get_json())
    assert upstream.chat_requests() == []


# 7. Only ids the service could have made reach the store.


@pytest.mark.parametrize("suffix", [":messages", "x", "/../x"])
def test_crafted_session_ids_are_404_and_touch_nothing(client, suffix):
    made = client.post("/api/chat", json=CHAT)
    made.get_data()
    session_id = made.headers["X-Session-ID"]
    for method in ("get", "delete"):
        response = getattr(client, method)(f"/api/sessions/{session_id}{suffix}")
        assert response.status_code == 404
    assert client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 2


# 8. A failed call leaves no session behind.


def test_failed_chats_make_no_sessions(client, upstream):
    for _ in range(5):
        assert client.post("/api/chat", json={**CHAT, "api_key": "sk-invalid-" + "k" * 40}).status_code == 401
    upstream.queue(status=500)
    assert client.post("/api/chat", json=CHAT).status_code == 502
    assert client.get("/api/health").get_json()["active_sessions"] == 0


# 9. Guessing tokens is slow.


def test_failed_authentications_are_limited_per_address(make_app):
    client = make_app(api_tokens=(TOKEN_A,), auth_failure_limit="5/minute").test_client()
    guesser = {"REMOTE_ADDR": "10.0.0.66"}
    for attempt in range(5):
        assert client.get("/models", headers=auth(f"guess-{attempt}"), environ_base=guesser).status_code == 401
    refused = client.get("/models", headers=auth(TOKEN_A), environ_base=guesser)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "x-should-retry" not in refused.headers  # it may be retried, once the window ends
    retry_after = refused.headers["Retry-After"]
    assert refused.get_json()["error"] == (
        f"Too many failed authentications from this address (at most 5 per 1 minute). Try again in {retry_after} s."
    )
    assert client.get("/models", headers=auth(TOKEN_A), environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 200
    assert client.get("/health", environ_base=guesser).status_code == 200  # public pages stay open


def test_a_stale_tab_does_not_lock_its_office_out(make_app):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B), auth_failure_limit="5/minute").test_client()
    office = {"REMOTE_ADDR": "10.0.0.80"}  # one address behind a NAT
    assert client.get("/models", headers=auth(TOKEN_A), environ_base=office).status_code == 200
    for _ in range(8):  # a tab that still sends a revoked token
        client.get("/models", headers=auth("revoked-" + "0" * 30), environ_base=office)
    assert client.get("/models", headers=auth(TOKEN_A), environ_base=office).status_code == 200  # worked here lately
    assert client.get("/models", headers=auth(TOKEN_B), environ_base=office).status_code == 429  # never seen here
    assert client.get("/models", headers=auth("guess-" + "1" * 30), environ_base=office).status_code == 429
    elsewhere = client.get("/models", headers=auth(TOKEN_B), environ_base={"REMOTE_ADDR": "10.0.0.81"})
    assert elsewhere.status_code == 200


def test_a_token_that_worked_elsewhere_does_not_pass_a_locked_address(make_app):
    client = make_app(api_tokens=(TOKEN_A,), auth_failure_limit="5/minute").test_client()
    assert client.get("/models", headers=auth(TOKEN_A), environ_base={"REMOTE_ADDR": "10.0.0.90"}).status_code == 200
    guesser = {"REMOTE_ADDR": "10.0.0.91"}
    for attempt in range(5):
        client.get("/models", headers=auth(f"guess-{attempt}"), environ_base=guesser)
    assert client.get("/models", headers=auth(TOKEN_A), environ_base=guesser).status_code == 429


def test_a_token_that_worked_from_an_address_gets_in_on_another_worker_too(make_app):
    first = make_app(api_tokens=(TOKEN_A,), auth_failure_limit="5/minute").test_client()
    office = {"REMOTE_ADDR": "10.0.0.82"}
    assert first.get("/models", headers=auth(TOKEN_A), environ_base=office).status_code == 200
    second = make_app(api_tokens=(TOKEN_A,), auth_failure_limit="5/minute").test_client()  # its own memory
    for _ in range(6):
        second.get("/models", headers=auth("revoked-" + "0" * 30), environ_base=office)
    assert second.get("/models", headers=auth(TOKEN_A), environ_base=office).status_code == 200  # from storage


def test_a_token_that_worked_in_the_last_window_gets_in_and_one_from_two_windows_ago_does_not(settings):
    """The windows a known token counts in, on a clock of the test's own: this one and the last, from this process's
    memory and from storage (another worker), for as long as storage keeps it."""
    from chatgate.app import create_app
    from chatgate.errors import RateLimited
    from chatgate.guard.rate_limits import AuthFailureLimit
    from chatgate.storage import open_storage

    limited = dataclasses.replace(settings, auth_failure_limit="3/minute")
    store, now, refused = open_storage(limited).counters(), [6_000_000.0], []

    def worker() -> AuthFailureLimit:
        return AuthFailureLimit(limited, store, refused.append, clock=lambda: now[0])

    this_worker = worker()
    with create_app(limited).test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.70"}):
        this_worker.count_success(TOKEN_A)
        for _ in range(4):
            this_worker.count_failure()
        now[0] += 60  # the next window
        this_worker.admit(TOKEN_A)
        worker().admit(TOKEN_A)  # another worker finds it in storage
        with pytest.raises(RateLimited):
            worker().admit(TOKEN_B)  # never seen here
        now[0] += 60  # two windows after it worked
        with pytest.raises(RateLimited):
            this_worker.admit(TOKEN_A)
        with pytest.raises(RateLimited):
            worker().admit(TOKEN_A)
    assert refused == ["auth_failures"] * 3


def _recording_counters(settings):
    """The SQLite counters, noting each read and write of a known-token mark (`auth-known:...`)."""
    from chatgate.storage.sqlite.counters import SQLiteStorage as SQLiteCounters

    class Recording(SQLiteCounters):
        def __init__(self, uri):
            super().__init__(uri)
            self.reads, self.writes = [], []

        def get(self, key):
            if key.startswith("auth-known:"):
                self.reads.append(key)
            return super().get(key)

        def incr(self, key, expiry, amount=1):
            if key.startswith("auth-known:"):
                self.writes.append((key, expiry))
            return super().incr(key, expiry, amount)

    return Recording(f"sqlite:///{settings.db_path}")


def test_a_known_token_costs_one_write_a_window_and_no_read_in_the_process_that_wrote_it(settings):
    """What the process remembers saves storage: a token that worked is written once a window (to last two), and
    its own process lets it in past a lockout without reading storage; a full memory starts again."""
    from chatgate.app import create_app
    from chatgate.guard.rate_limits import AuthFailureLimit

    limited = dataclasses.replace(settings, auth_failure_limit="3/minute")
    store, now = _recording_counters(limited), [6_000_000.0]
    limit = AuthFailureLimit(limited, store, lambda _: None, clock=lambda: now[0])
    with create_app(limited).test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.71"}):
        for _ in range(3):
            limit.count_success(TOKEN_A)
        assert [expiry for _, expiry in store.writes] == [120]  # once, kept for two windows
        for _ in range(4):
            limit.count_failure()
        now[0] += 60
        limit.admit(TOKEN_A)  # locked out, but known here from the last window
        assert store.reads == []
        limit.MOST_REMEMBERED = 3  # a full memory is forgotten whole: it holds A (two windows) and B, then is full
        limit.count_success(TOKEN_A)
        limit.count_success(TOKEN_B)
        limit.count_success("tok-third-" + "6" * 30)  # the third: memory cleared first
        limit.count_success(TOKEN_A)  # forgotten, so written again
        assert [key.rsplit(":", 1)[1] for key, _ in store.writes].count(str(int(now[0] // 60))) == 4


# 10. No request writes a log line of its own.


def test_control_characters_in_a_path_cannot_forge_a_log_line(client, caplog):
    client.get("/nothing%0a2026-01-01 INFO access [x] GET /admin 200")
    record = next(r for r in caplog.records if r.name == "access")
    record.request_id = "-"
    line = TextFormatter().format(record)
    assert "\n" not in line and "\\x0a2026-01-01" in line


@pytest.mark.parametrize("separator, code", [("%E2%80%A8", 0x2028), ("%E2%80%A9", 0x2029), ("%C2%85", 0x85)])
def test_unicode_line_separators_in_a_path_cannot_forge_a_log_line(client, caplog, separator, code):
    client.get(f"/nothing{separator}2026-01-01 INFO access [x] GET /admin 200")
    record = next(r for r in caplog.records if r.name == "access")
    record.request_id = "-"
    text, as_json = TextFormatter().format(record), JsonFormatter().format(record)
    assert len(text.splitlines()) == 1 and len(as_json.splitlines()) == 1
    assert (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") + "2026-01-01" in text
    assert json.loads(as_json)["message"].count(chr(code)) == 1  # escaped as JSON escapes it: nothing lost


def test_control_characters_in_a_csv_cell_are_escaped(make_app, upstream):
    client = make_app(models=("gpt-4o-mini", "x\r\ny\u2028z")).test_client()
    client.post("/chat", json={"message": "hi", "model": "x\r\ny\u2028z"})
    text = client.get("/usage?format=csv").get_data(as_text=True)
    assert "x\\x0d\\x0ay\\u2028z" in text and len(text.splitlines()) == 2


# 11. /api/test-key is no oracle when client keys are off.


def test_test_key_calls_nothing_when_client_keys_are_disabled(make_app, upstream):
    client = make_app(allow_client_keys=False).test_client()
    response = client.post("/api/test-key", json={"api_key": client_key()})
    assert response.status_code == 200 and response.get_json()["valid"] is False
    assert "disabled" in response.get_json()["message"]
    assert upstream.requests == []


# 12. Admin tokens alone turn access control on.


def test_admin_tokens_alone_close_the_service(make_app, upstream):
    admin = secret("adm-" + "6" * 30)
    client = make_app(admin_tokens=(admin,)).test_client()
    assert client.post("/chat", json={"message": "hi"}).status_code == 401
    assert client.post("/chat", json={"message": "hi"}, headers=auth(admin)).status_code == 200


# 14. The developer message of the latest turn is the session's.


def test_a_turns_developer_message_is_sent_and_kept(client, upstream):
    first = client.post("/api/chat", json=CHAT)
    first.get_data()
    session_id = first.headers["X-Session-ID"]
    client.post(
        "/api/chat",
        json={**CHAT, "developer_message": "Now answer in French.", "session_id": session_id, "user_message": "again"},
    ).get_data()
    assert upstream.last_chat_body()["messages"][0] == {"role": "system", "content": "Now answer in French."}
    assert client.get(f"/api/sessions/{session_id}").get_json()["developer_message"] == "Now answer in French."
