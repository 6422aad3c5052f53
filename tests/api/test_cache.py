"""The response cache: a repeat is answered from storage (plain or streamed, whichever stored it) without the
upstream or the budgets; per caller or shared; a caller's own key apart; Cache-Control; only whole answers."""

import json
import threading
import time

import httpx2
import openai
import pytest

from chatgate.cache import response_cache
from chatgate.cache.following import LOOK_EVERY
from chatgate.cache.keys import request_key
from chatgate.config import Settings
from tests.support.keys import client_key

BODY = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def cached(make_app):
    return make_app(cache_ttl=3600)


def ask(client, body=BODY, **headers):
    return client.post("/v1/chat/completions", json=body, headers=headers)


def text_of_stream(response) -> str:
    body = response if isinstance(response, str) else response.get_data(as_text=True)
    chunks = [json.loads(line[6:]) for line in body.splitlines() if line[6:7] == "{"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_a_repeat_is_answered_from_the_cache_with_a_fresh_id(cached, upstream):
    client = cached.test_client()
    first, second = ask(client), ask(client, {**BODY, "messages": BODY["messages"], "max_tokens": 50})
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.headers["Age"] == "0" and int(second.headers["Age"]) >= 0
    assert len(upstream.chat_requests()) == 1
    one, two = first.get_json(), second.get_json()
    assert two["choices"] == one["choices"] and two["usage"] == one["usage"]
    assert two["id"] != one["id"] and two["id"].startswith("chatcmpl-")


def test_the_order_of_keys_and_the_delivery_fields_do_not_change_the_key(cached, upstream):
    client = cached.test_client()
    ask(client)
    reordered = {"messages": BODY["messages"], "max_tokens": 50, "user": "u-1", "model": "gpt-4o-mini"}
    assert ask(client, reordered).headers["X-Cache"] == "HIT"
    assert ask(client, {**BODY, "temperature": 0.5}).headers["X-Cache"] == "MISS"  # a parameter is the question
    assert len(upstream.chat_requests()) == 2


def test_a_stream_is_served_from_what_a_plain_call_stored_and_the_reverse(cached, upstream):
    client = cached.test_client()
    plain = ask(client).get_json()
    streamed = ask(client, {**BODY, "stream": True, "stream_options": {"include_usage": True}})
    assert streamed.headers["X-Cache"] == "HIT" and streamed.mimetype == "text/event-stream"
    assert text_of_stream(streamed) == plain["choices"][0]["message"]["content"]
    lines = streamed.get_data(as_text=True).splitlines()
    assert lines[-2] == "data: [DONE]" or lines[-1] == "data: [DONE]"
    usage = [json.loads(line[6:]) for line in lines if '"usage"' in line]
    assert usage and usage[-1]["usage"] == plain["usage"]
    other = {**BODY, "messages": [{"role": "user", "content": "tell me more"}]}
    first = ask(client, {**other, "stream": True})
    assert first.headers["X-Cache"] == "MISS" and text_of_stream(first)
    again = ask(client, other)
    assert again.headers["X-Cache"] == "HIT"
    assert again.get_json()["choices"][0]["message"]["content"] == text_of_stream(first)
    assert len(upstream.chat_requests()) == 2


def test_a_hit_costs_nothing_of_the_token_budget(make_app, upstream):
    client = make_app(cache_ttl=3600, token_limit="1000/hour").test_client()
    spent = ask(client).get_json()["usage"]["total_tokens"]
    hit = ask(client)
    assert hit.headers["X-Cache"] == "HIT" and "X-RateLimit-Remaining-Tokens" not in hit.headers
    after = ask(client, {**BODY, "max_tokens": 7})
    assert int(after.headers["X-RateLimit-Remaining-Tokens"]) == 1000 - spent - (1 + 7)  # the hit took nothing
    assert hit.get_json()["usage"]["total_tokens"] == spent


def test_each_caller_has_its_own_entries_unless_shared(make_app, upstream):
    apart = make_app(cache_ttl=3600).test_client()
    assert ask(apart).headers["X-Cache"] == "MISS"
    other = apart.post("/v1/chat/completions", json=BODY, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.headers["X-Cache"] == "MISS"
    shared = make_app(cache_ttl=3600, cache_scope="shared").test_client()
    ask(shared)
    other = shared.post("/v1/chat/completions", json=BODY, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.headers["X-Cache"] == "HIT"


def test_a_callers_own_key_has_entries_apart_and_never_touches_a_shared_cache(make_app, upstream):
    own = {"X-OpenAI-Key": client_key()}
    apart = make_app(cache_ttl=3600).test_client()
    ask(apart)
    assert ask(apart, **own).headers["X-Cache"] == "MISS"  # the server key's answer is not the caller key's
    assert ask(apart, **own).headers["X-Cache"] == "HIT"
    shared = make_app(cache_ttl=3600, cache_scope="shared").test_client()
    ask(shared)
    assert [ask(shared, **own).headers["X-Cache"] for _ in range(2)] == ["BYPASS", "BYPASS"]


def test_no_cache_skips_the_read_and_no_store_skips_both(cached, upstream):
    client = cached.test_client()
    ask(client)
    assert ask(client, **{"Cache-Control": "no-cache"}).headers["X-Cache"] == "MISS"
    assert ask(client, **{"Cache-Control": "no-store"}).headers["X-Cache"] == "BYPASS"
    assert len(upstream.chat_requests()) == 3
    fresh = {**BODY, "seed": 7}
    ask(client, fresh, **{"Cache-Control": "no-store"})
    assert ask(client, fresh).headers["X-Cache"] == "MISS"  # no-store kept nothing


def test_errors_and_cut_streams_are_not_kept(make_app, upstream):
    client = make_app(cache_ttl=3600, stream_continuation=False).test_client()  # today's end, without continuation
    upstream.queue(status=500)
    assert ask(client).status_code == 502
    upstream.queue(cut_after=2)
    ask(client, {**BODY, "stream": True}).get_data()
    assert ask(client).headers["X-Cache"] == "MISS"
    assert ask(client).headers["X-Cache"] == "HIT"


def test_an_answer_over_the_entry_bound_is_not_kept(make_app, upstream):
    client = make_app(cache_ttl=3600, cache_max_entry_bytes=100).test_client()
    assert [ask(client).headers["X-Cache"] for _ in range(2)] == ["MISS", "MISS"]


def test_the_sqlite_cache_keeps_at_most_its_bound_oldest_out_first(tmp_path):
    from chatgate.storage.sqlite import SQLiteBackend

    store = SQLiteBackend(str(tmp_path / "cache.sqlite3")).response_cache(max_bytes=2500)
    for index in range(5):
        store.land(f"k{index}", bytes(1000), 3600, leads=False)
    assert [store.look(f"k{index}")[0] is not None for index in range(5)] == [False, False, False, True, True]


def test_embeddings_are_cached(cached, upstream):
    client = cached.test_client()
    body = {"model": "text-embedding-3-small", "input": "hello"}
    first, second = (client.post("/v1/embeddings", json=body) for _ in range(2))
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.get_json() == first.get_json()


def test_off_there_is_no_cache_header(client, upstream):
    assert "X-Cache" not in ask(client).headers


def burst(apps, upstream, body, count, held_after=None, **behaviour):
    """`count` identical requests at once, spread over `apps`, while the upstream holds its answer until every one
    of them has arrived (each counts itself in the flight of its request): then the answers. With `held_after`,
    a stream is held after that many chunks instead (its first ones are on their way while the others arrive)."""
    release, answers = threading.Event(), []
    if held_after is None:
        upstream.queue(hold_answer=release, **behaviour)
    else:
        upstream.queue(wait_for=release, hold_after=held_after, **behaviour)
    key = f"ip:127.0.0.1:{request_key('chat', {k: v for k, v in body.items() if k != 'stream'})}"

    def one(app):
        answer = app.test_client().post("/v1/chat/completions", json=body)
        answers.append((answer.headers["X-Cache"], answer.get_data(as_text=True)))

    threads = [threading.Thread(target=one, args=(apps[i % len(apps)],)) for i in range(count)]
    for thread in threads:
        thread.start()
    with apps[0].app_context():
        store, deadline = response_cache().store, time.monotonic() + 10
        while (arrived := store.look(key)[1]) < count:
            assert time.monotonic() < deadline, f"{arrived} of {count} requests arrived"
            time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(15)
    return answers


def content_chunks(body: str) -> list[str]:
    chunks = [json.loads(line[6:]) for line in body.splitlines() if line[6:7] == "{"]
    return [
        c["choices"][0]["delta"]["content"] for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_twenty_identical_requests_at_once_make_one_upstream_call(cached, upstream, stream):
    answers = burst([cached], upstream, {**BODY, "stream": stream}, 20)
    assert len(upstream.chat_requests()) == 1
    assert sorted(verdict for verdict, _ in answers) == ["HIT"] * 19 + ["MISS"]
    if stream:
        texts = {text_of_stream(body) for _, body in answers}
    else:
        texts = {json.loads(body)["choices"][0]["message"]["content"] for _, body in answers}
    assert len(texts) == 1 and texts.pop()


def test_identical_requests_on_two_instances_sharing_redis_make_one_upstream_call(make_app, upstream, redis_url):
    apps = [make_app(cache_ttl=3600, redis_url=redis_url) for _ in range(2)]
    answers = burst(apps, upstream, {**BODY, "seed": int(time.time())}, 10)
    assert len(upstream.chat_requests()) == 1
    assert sorted(verdict for verdict, _ in answers) == ["HIT"] * 9 + ["MISS"]


def test_metrics_count_hits_misses_and_bypasses_by_surface(cached, upstream):
    client = cached.test_client()

    def count(verdict):
        text = client.get("/metrics").get_data(as_text=True)
        line = f'chat_api_cache_lookups_total{{surface="/v1/chat/completions",verdict="{verdict}"}} '
        return float(next((row[len(line) :] for row in text.splitlines() if row.startswith(line)), 0))

    before = {verdict: count(verdict) for verdict in ("hit", "miss", "bypass")}
    ask(client, {**BODY, "seed": 99}), ask(client, {**BODY, "seed": 99}), ask(client, **{"Cache-Control": "no-store"})
    assert {verdict: count(verdict) - before[verdict] for verdict in before} == {"hit": 1, "miss": 1, "bypass": 1}


def test_the_core_chat_is_answered_from_the_entry_of_the_same_request(cached, upstream):
    client = cached.test_client()
    first, second = (client.post("/chat", json={"message": "hi"}) for _ in range(2))
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.get_json() == first.get_json() and len(upstream.chat_requests()) == 1


def core_stream_frames(response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.get_data(as_text=True).splitlines() if line.startswith("data:")]


def test_the_core_stream_is_served_from_what_the_core_chat_stored_and_the_reverse(cached, upstream):
    client = cached.test_client()
    plain = client.post("/chat", json={"message": "hi"}).get_json()
    replayed = client.post("/chat/stream", json={"message": "hi"})
    assert replayed.headers["X-Cache"] == "HIT" and replayed.mimetype == "text/event-stream"
    frames = core_stream_frames(replayed)
    assert "".join(f.get("content", "") for f in frames) == plain["response"]
    assert frames[-1] == {"done": True, "usage": plain["usage"]}  # the whole usage frame, as the upstream counted
    first = client.post("/chat/stream", json={"message": "and again"})
    assert first.headers["X-Cache"] == "MISS"
    said = "".join(f.get("content", "") for f in core_stream_frames(first))
    again = client.post("/chat", json={"message": "and again"})
    assert again.headers["X-Cache"] == "HIT" and again.get_json()["response"] == said
    assert len(upstream.chat_requests()) == 2


def test_ask_is_answered_from_the_cache_as_plain_text(cached, upstream):
    client = cached.test_client()
    body = {"messages": [{"role": "user", "content": "hi"}]}
    first = client.post("/ask", json=body)
    said = first.get_data(as_text=True)  # read whole, so that it was kept before the second asks
    second = client.post("/ask", json=body)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert second.mimetype == "text/plain" and second.headers["x-vercel-ai-data-stream"] == "v1"
    assert second.get_data(as_text=True) == said != ""
    assert len(upstream.chat_requests()) == 1


def test_a_resumable_stream_is_never_cached(cached, upstream):
    client = cached.test_client()
    for _ in range(2):
        answer = ask(client, {**BODY, "stream": True}, **{"X-Resumable": "true"})
        assert answer.headers["X-Cache"] == "BYPASS" and text_of_stream(answer)
    assert len(upstream.chat_requests()) == 2


UNSTORED = {"model": "gpt-4o-mini", "input": "hi", "store": False}


def sdk_on(app) -> openai.OpenAI:
    """The official SDK, talking to `app` in this process."""
    transport = httpx2.WSGITransport(app=app)
    return openai.OpenAI(
        base_url="http://service/v1", api_key="unused", max_retries=0, http_client=httpx2.Client(transport=transport)
    )


def test_a_response_the_upstream_does_not_store_is_cached_plain_and_streamed(cached, upstream):
    client = cached.test_client()
    first, second = (client.post("/v1/responses", json=UNSTORED) for _ in range(2))
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    one, two = first.get_json(), second.get_json()
    assert two["output"] == one["output"] and two["usage"] == one["usage"]
    assert two["id"] != one["id"] and two["id"].startswith("resp_")
    # A stream from the plain call's entry, read by the SDK's own event accumulator.
    with sdk_on(cached).responses.stream(**UNSTORED) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == one["output"][0]["content"][0]["text"]
    assert final.usage.total_tokens == one["usage"]["total_tokens"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    # And the reverse: a plain call from what a stream stored.
    other = {**UNSTORED, "input": "tell me more"}
    with sdk_on(cached).responses.stream(**other) as stream:
        said = stream.get_final_response().output_text
    again = client.post("/v1/responses", json=other)
    assert again.headers["X-Cache"] == "HIT" and again.get_json()["output"][0]["content"][0]["text"] == said
    assert len(upstream.requests_to("POST", "/responses")) == 2


def test_a_response_the_upstream_stores_is_never_cached(cached, upstream):
    client = cached.test_client()
    answers = [client.post("/v1/responses", json={**UNSTORED, "store": True}) for _ in range(2)]
    answers.append(client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi"}))  # stored by default
    assert ["X-Cache" in a.headers for a in answers] == [False, False, False]
    assert len(upstream.requests_to("POST", "/responses")) == 3


def test_hits_cost_nothing_under_a_spend_limit_and_their_savings_show_in_usage(make_app, upstream):
    client = make_app(cache_ttl=3600, spend_limit="0.0005/day").test_client()
    body = {**BODY, "max_tokens": 400}  # reserves $0.000241 of the $0.0005
    upstream.queue(usage={"prompt_tokens": 1000, "completion_tokens": 400, "total_tokens": 1400})  # costs $0.00039
    assert ask(client, body).headers["X-Cache"] == "MISS"
    assert ask(client, {**body, "seed": 1}).status_code == 429  # the budget has no room for another call...
    hits = [ask(client, body) for _ in range(3)]  # ...but a hit is no call
    assert [(h.status_code, h.headers["X-Cache"]) for h in hits] == [(200, "HIT")] * 3
    assert all("X-RateLimit-Remaining-Spend" not in h.headers for h in hits)
    assert len(upstream.chat_requests()) == 1
    mine = client.get("/usage").get_json()
    entry = mine["usage"]["gpt-4o-mini"]
    assert (entry["calls"], entry["cache_hits"]) == (1, 3)
    assert (entry["saved_prompt_tokens"], entry["saved_completion_tokens"]) == (3000, 1200)
    assert mine["cost_usd"] == 0.00039 and mine["saved_usd"] == entry["saved_usd"] == 0.00117
    by_day = client.get("/usage?by=day").get_json()["buckets"]
    assert [(row["cache_hits"], row["saved_usd"]) for row in by_day] == [(3, 0.00117)]


def test_a_stored_token_may_turn_caching_off_for_itself(make_app, upstream):
    app = make_app(cache_ttl=3600)
    runner = app.test_cli_runner()
    private = runner.invoke(args=["tokens", "create", "private", "--no-cache"]).output.strip()
    public = runner.invoke(args=["tokens", "create", "public"]).output.strip()
    listed = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert [line.endswith("cache off") for line in listed] == [True, False]
    client = app.test_client()
    verdicts = [ask(client, Authorization=f"Bearer {token}").headers["X-Cache"] for token in (private,) * 2]
    assert verdicts == ["BYPASS", "BYPASS"]
    verdicts = [ask(client, Authorization=f"Bearer {token}").headers["X-Cache"] for token in (public,) * 2]
    assert verdicts == ["MISS", "HIT"]
    assert len(upstream.chat_requests()) == 3


def test_an_upstreams_file_model_entry_may_turn_caching_off_for_itself(tmp_path, make_app, upstream):
    path = tmp_path / "upstreams.toml"
    path.write_text(
        f'[[upstreams]]\nname = "one"\nbase_url = "{upstream.base_url}/v1"\nmodels = ["gpt-4o", "gpt-4o-mini"]\n'
        '[models."gpt-4o"]\ncache = false\n[models."gpt-4o-mini"]\ncache = true\n'
    )
    settings = Settings.from_env({"UPSTREAMS_FILE": str(path)})
    assert settings.uncached_models == ("gpt-4o",)
    client = make_app(cache_ttl=3600, uncached_models=settings.uncached_models).test_client()
    assert [ask(client, {**BODY, "model": "gpt-4o"}).headers["X-Cache"] for _ in range(2)] == ["BYPASS"] * 2
    assert [ask(client).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]


# After the hold, the upstream paces its chunks more slowly than the leading stream looks for followers, so that it
# looks (and publishes) at its next chunk.
PACED = {"chunk_delay": 2 * LOOK_EVERY}


def test_identical_streams_follow_the_first_chunk_by_chunk(cached, upstream):
    answers = burst([cached], upstream, {**BODY, "stream": True}, 6, held_after=1, **PACED)
    assert len(upstream.chat_requests()) == 1
    assert sorted(verdict for verdict, _ in answers) == ["HIT"] * 5 + ["MISS"]
    chunkings = {tuple(content_chunks(body)) for _, body in answers}
    assert len(chunkings) == 1  # every one the upstream's own chunks, not the stored answer said in one
    assert len(chunkings.pop()) == len(upstream_words()) > 1
    assert all(body.rstrip().endswith("data: [DONE]") for _, body in answers)


def test_a_followed_stream_that_cannot_be_kept_is_still_shared(cached, upstream):
    calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "hi"}'}}]
    answers = burst([cached], upstream, {**BODY, "stream": True}, 4, held_after=1, tool_calls=calls, **PACED)
    assert len(upstream.chat_requests()) == 1  # one upstream call, though a tool call is never kept
    assert sorted(verdict for verdict, _ in answers) == ["HIT"] * 3 + ["MISS"]
    assert all('"tool_calls"' in body and body.rstrip().endswith("data: [DONE]") for _, body in answers)
    assert ask(cached.test_client(), {**BODY, "stream": True}).headers["X-Cache"] == "MISS"  # and was not kept


def test_followers_of_a_cut_stream_end_as_it_did_and_nothing_is_kept(make_app, upstream):
    cached = make_app(cache_ttl=3600, stream_continuation=False)  # today's end, without continuation
    answers = burst([cached], upstream, {**BODY, "stream": True}, 4, held_after=1, cut_after=3, **PACED)
    assert len(upstream.chat_requests()) == 1
    assert all('"error"' in body and "[DONE]" not in body for _, body in answers)
    assert ask(cached.test_client()).headers["X-Cache"] == "MISS"


def test_identical_streams_on_two_instances_sharing_redis_follow_the_first(make_app, upstream, redis_url):
    apps = [make_app(cache_ttl=3600, redis_url=redis_url) for _ in range(2)]
    body = {**BODY, "seed": int(time.time() * 1000) % 2**31, "stream": True}
    answers = burst(apps, upstream, body, 6, held_after=1, **PACED)
    assert len(upstream.chat_requests()) == 1
    assert sorted(verdict for verdict, _ in answers) == ["HIT"] * 5 + ["MISS"]
    assert {len(content_chunks(body)) for _, body in answers} == {len(upstream_words())}


def upstream_words() -> list[str]:
    from chatgate.upstream.wire import words_of

    return words_of("Hello from the fake upstream.")
