"""A stream the upstream cuts mid-reply (a dropped connection, an error event, a stall) is finished by another call,
on every chat surface's own frames: one reply, one end, no error frame, the usage summed, the seam without overlap.
Tool calls, structured output, several choices and log probabilities are never continued."""

import json
import threading

import pytest

from chatgate.upstream.continuation import INSTRUCTION, without_overlap
from tests.support.upstreams_file import table

HELLO = [{"role": "user", "content": "Tell me about foxes"}]
BODY = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
FIRST = "The quick brown fox jumps"
REST = " over the lazy dog."


def chunks_of(body: str) -> list[dict]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]


def text_of(chunks: list[dict]) -> str:
    return "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))


@pytest.mark.parametrize(
    "cut",
    [{"cut_after": 3}, {"error_event_after": 3}, {"end_early_after": 3}],
    ids=["connection reset", "error event", "ended unfinished"],
)
def test_a_cut_v1_stream_is_finished_by_another_call(client, upstream, cut):
    upstream.queue(reply=FIRST, **cut)
    upstream.queue(reply=REST)
    answer = client.post("/v1/chat/completions", json=BODY)
    body = answer.get_data(as_text=True)
    chunks = chunks_of(body)
    assert text_of(chunks) == "The quick brown" + REST  # the first part, then the rest
    assert '"error"' not in body and body.rstrip().endswith("data: [DONE]")
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")].count("stop") == 1
    assert len({c["id"] for c in chunks}) == 1  # one stream, as the client sees it
    first, second = upstream.chat_requests()
    assert second.body["messages"][:-2] == HELLO  # the original request...
    assert second.body["messages"][-2:] == [
        {"role": "assistant", "content": "The quick brown"},  # ...the reply so far...
        {"role": "user", "content": INSTRUCTION},  # ...and the instruction to go on
    ]
    usage = chunks[-1]["usage"]  # the whole stream's: the cut call's (estimated) and the continuation's
    assert usage["completion_tokens"] > len(REST.split()) and usage["total_tokens"] == (
        usage["prompt_tokens"] + usage["completion_tokens"]
    )


def test_the_overlap_at_the_seam_is_removed(client, upstream):
    upstream.queue(reply=FIRST, cut_after=3)
    upstream.queue(reply=" brown fox jumps over the lazy dog.")  # it starts by repeating the end so far
    body = client.post("/v1/chat/completions", json=BODY).get_data(as_text=True)
    assert text_of(chunks_of(body)) == "The quick brown fox jumps over the lazy dog."


def test_without_overlap_keeps_what_does_not_repeat():
    assert without_overlap("The quick brown", " brown fox") == " fox"
    assert without_overlap("The quick brown", "fox") == "fox"
    assert without_overlap("ab", "abc") == "c"
    assert without_overlap("", "abc") == "abc"


def test_the_core_stream_is_continued_with_its_usage_summed(client, upstream):
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=" brown fox.")
    frames = [
        json.loads(line[6:])
        for line in client.post("/chat/stream", json={"message": "hi"}).get_data(as_text=True).splitlines()
        if line.startswith("data: ")
    ]
    assert "".join(f.get("content", "") for f in frames) == "The quick brown fox."
    assert not any("error" in f for f in frames) and frames[-1]["done"] is True
    assert frames[-1]["usage"]["completion_tokens"] >= 2 + 2  # both calls


def test_ask_and_use_chat_are_continued(client, upstream):
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    text = client.post("/ask", json={"messages": HELLO}).get_data(as_text=True)
    assert text == "The quick" + REST
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    ui = {"id": "chat-1", "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    said = client.post("/api/chat", json=ui).get_data(as_text=True)
    deltas = [json.loads(line[6:]) for line in said.splitlines() if line.startswith("data: {")]
    assert "".join(d.get("delta", "") for d in deltas if d.get("type") == "text-delta") == "The quick" + REST
    assert not any(d.get("type") == "error" for d in deltas)


def test_a_session_keeps_the_joined_reply(client, upstream):
    turn = {"developer_message": "Be brief.", "user_message": "hi"}
    session_id = client.post("/api/sessions", json={}).get_json()["session_id"]
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    said = client.post("/api/chat", json={**turn, "session_id": session_id}).get_data(as_text=True)
    assert said == "The quick" + REST
    client.post("/api/chat", json={**turn, "session_id": session_id, "user_message": "and then?"}).get_data()
    sent = upstream.last_chat_body()["messages"]
    assert {"role": "assistant", "content": "The quick" + REST} in sent  # the session kept one reply


@pytest.mark.parametrize(
    "extra",
    [
        {"response_format": {"type": "json_object"}},
        {"n": 2},
        {"logprobs": True},
    ],
    ids=["json mode", "several choices", "logprobs"],
)
def test_structured_several_and_logprob_streams_are_never_continued(client, upstream, extra):
    upstream.queue(reply=FIRST, cut_after=2)
    body = client.post("/v1/chat/completions", json={**BODY, **extra}).get_data(as_text=True)
    assert '"error"' in body and "[DONE]" not in body and len(upstream.chat_requests()) == 1


def test_a_stream_of_tool_calls_is_never_continued(client, upstream):
    calls = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "foxes"}'}}]
    upstream.queue(tool_calls=calls, cut_after=2)
    body = client.post("/v1/chat/completions", json=BODY).get_data(as_text=True)
    assert '"error"' in body and len(upstream.chat_requests()) == 1


def test_two_cuts_are_continued_twice_and_a_third_ends_with_an_error(client, upstream):
    upstream.queue(reply="one two three", cut_after=1)
    upstream.queue(reply=" two three", cut_after=2)  # the fake says "" first, then " two"
    upstream.queue(reply=" three four", cut_after=2)
    upstream.queue(reply=" never asked")
    body = client.post("/v1/chat/completions", json=BODY).get_data(as_text=True)
    assert text_of(chunks_of(body)) == "one two three"
    assert '"error"' in body and "[DONE]" not in body and len(upstream.chat_requests()) == 3


def test_a_budget_that_refuses_the_continuation_ends_the_stream_with_its_error(make_app, upstream):
    # The first call reserves its worst case (its prompt, about 5 tokens, and 100) and settles to little; the
    # continuation's prompt holds the reply so far and the instruction too: its worst case is more than is left.
    client = make_app(token_limit="120/hour").test_client()
    upstream.queue(reply=FIRST, cut_after=2)
    body = client.post("/v1/chat/completions", json={**BODY, "max_tokens": 100}).get_data(as_text=True)
    error = [c for c in chunks_of(body) if "error" in c][-1]["error"]
    assert error["code"] == "rate_limit_exceeded" and "tokens" in error["message"]
    assert len(upstream.chat_requests()) == 1


def test_continuation_goes_to_another_upstream_first(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    a.queue(reply=FIRST, cut_after=2)
    b.queue(reply=REST)
    body = client.post("/v1/chat/completions", json=BODY).get_data(as_text=True)
    assert text_of(chunks_of(body)) == "The quick" + REST
    assert (len(a.chat_requests()), len(b.chat_requests())) == (1, 1)


def test_a_stall_counts_as_a_cut(make_app, upstream):
    client = make_app(stream_stall_seconds=0.3).test_client()
    never = threading.Event()
    upstream.queue(reply=FIRST, wait_for=never, hold_after=2)  # two words, then nothing
    upstream.queue(reply=REST)
    try:
        body = client.post("/v1/chat/completions", json=BODY).get_data(as_text=True)
    finally:
        never.set()
    assert text_of(chunks_of(body)) == "The quick" + REST and '"error"' not in body


def test_a_resumed_reader_sees_the_joined_reply(client, upstream):
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    first = client.post("/v1/chat/completions", json=BODY, headers={"X-Resumable": "true"})
    first.get_data()
    again = client.get(f"/streams/{first.headers['X-Stream-ID']}").get_data(as_text=True)
    assert text_of(chunks_of(again)) == "The quick" + REST


def test_the_ledger_counts_both_calls(make_app, upstream):
    client = make_app().test_client()
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    client.post("/v1/chat/completions", json=BODY).get_data()
    usage = client.get("/usage").get_json()["usage"]["gpt-4o-mini"]
    assert usage["calls"] == 2 and usage["estimated_calls"] == 1  # the cut call is estimated, as before


def test_metrics_count_continuations(client, upstream):
    def count(outcome: str) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        line = f'chat_api_stream_continuations_total{{outcome="{outcome}"}} '
        return float(next((row[len(line) :] for row in text.splitlines() if row.startswith(line)), 0))

    before = count("answered")
    upstream.queue(reply=FIRST, cut_after=2)
    upstream.queue(reply=REST)
    client.post("/v1/chat/completions", json=BODY).get_data()
    assert count("answered") == before + 1
