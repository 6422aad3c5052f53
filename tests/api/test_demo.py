"""The demo model (DEMO=true, `chatgate serve --demo`): with no key at all, every surface answers, streams
included, in its own shape, and every answer says it is the demo's; nothing goes to any upstream."""

import json

import pytest

from chatgate.config import Settings
from tests.support.sse import sse_headed, sse_json, sse_payloads

SAID = "chatgate's demo model"


@pytest.fixture
def demo(make_app, upstream):
    """A demo app with no key, though OPENAI_BASE_URL names the fake upstream: the demo must not call it."""
    yield make_app(demo=True, openai_api_key=None).test_client()
    assert upstream.requests == []


def test_the_core_api_chats_with_the_demo_and_says_so(demo):
    answer = demo.post("/chat", json={"message": "What is 2+2?"})
    assert answer.status_code == 200
    reply = answer.get_json()["response"]
    assert SAID in reply and "“What is 2+2?”" in reply
    streamed = demo.post("/chat/stream", json={"message": "hi"})
    pieces = [frame.get("content", "") for frame in sse_json(streamed.data)]
    assert SAID in "".join(pieces) and len(pieces) > 10  # word by word


def test_the_openai_surface_answers_plain_and_streamed(demo):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    plain = demo.post("/v1/chat/completions", json=body).get_json()
    assert plain["object"] == "chat.completion" and SAID in plain["choices"][0]["message"]["content"]
    assert plain["usage"]["completion_tokens"] > 0
    streamed = demo.post(
        "/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    payloads = sse_payloads(streamed.data)
    assert payloads[-1] == b"[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert SAID in "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_the_responses_api_answers_plain_and_streamed(demo):
    plain = demo.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hello"}).get_json()
    assert plain["status"] == "completed" and SAID in plain["output"][0]["content"][0]["text"]
    streamed = demo.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hello", "stream": True})
    events = sse_headed(streamed.data, b"event")
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    assert SAID in "".join(data["delta"] for name, data in events if name == "response.output_text.delta")


def test_models_embeddings_sessions_and_ask_answer_too(demo):
    assert "gpt-4o-mini" in {m["id"] for m in demo.get("/v1/models").get_json()["data"]}
    vectors = demo.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a", "b"]}).get_json()
    assert len(vectors["data"]) == 2
    session = demo.post("/api/sessions", json={"developer_message": "Be brief."}).get_json()["session_id"]
    turn = demo.post("/api/chat", json={"developer_message": "Be brief.", "user_message": "hi", "session_id": session})
    assert turn.status_code == 200 and SAID in turn.data.decode()
    asked = demo.post("/ask", json={"messages": [{"role": "user", "content": "hi"}]})
    assert asked.status_code == 200 and SAID in asked.data.decode()


def test_a_callers_own_key_is_not_needed_nor_sent_anywhere(demo):
    answer = demo.post("/chat", json={"message": "hi"}, headers={"X-OpenAI-Key": "sk-" + "a" * 48})
    assert answer.status_code == 200 and SAID in answer.get_json()["response"]


def test_the_start_says_it_is_the_demo_and_nothing_about_keys():
    said = Settings.from_env({"DEMO": "true"}, dotenv=False).warnings()
    assert len(said) == 1 and said[0].startswith("DEMO is on")
    assert Settings.from_env({"DEMO": "true"}, dotenv=False).upstream_list[0].kind == "demo"
    assert Settings.from_env({}, dotenv=False).upstream_list[0].kind == "openai"
