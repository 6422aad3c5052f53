"""/v1/responses and /v1/embeddings: relayed like /v1/chat/completions, guarded the same, stored responses
visible to their maker only."""

import time
import urllib.parse

import httpx2
import openai
import pytest

from tests.support.keys import SERVER_KEY, secret
from tests.support.sse import sse_headed

TOKEN_A = secret("tok-a-" + "7" * 30)
TOKEN_B = secret("tok-b-" + "8" * 30)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_plain_response_is_openais_answer(client, upstream):
    answer = client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "Say hello", "store": True})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "Hello from the fake upstream."
    sent = upstream.requests_to("POST", "/responses")[-1]
    assert sent.body == {"model": "gpt-4o-mini", "input": "Say hello", "store": True}
    assert sent.headers["Authorization"] == f"Bearer {SERVER_KEY}"


def test_a_streamed_response_is_relayed_event_by_event(client, upstream):
    streamed = client.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "Say hello", "stream": True})
    assert streamed.status_code == 200 and streamed.mimetype == "text/event-stream"
    events = sse_headed(streamed.get_data(), b"event")
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    deltas = [data["delta"] for name, data in events if name == "response.output_text.delta"]
    assert "".join(deltas) == "Hello from the fake upstream." and len(deltas) == 5
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))


def test_reasoning_models_get_no_sampling_on_responses(client, upstream):
    client.post(
        "/v1/responses",
        json={"model": "o4-mini", "input": "x", "temperature": 0.2, "top_p": 0.3, "max_output_tokens": 20},
    )
    sent = upstream.requests_to("POST", "/responses")[-1].body
    assert "temperature" not in sent and "top_p" not in sent and sent["max_output_tokens"] == 20


def test_unknown_models_and_bad_fields_are_openai_errors(client, upstream):
    unknown = client.post("/v1/responses", json={"model": "gpt-9", "input": "x"})
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "model_not_found"
    bad = client.post("/v1/responses", json={"model": "gpt-4o", "input": "x", "max_output_tokens": "10"})
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "max_output_tokens"
    assert upstream.requests_to("POST", "/responses") == []


def test_a_failure_mid_stream_ends_with_the_responses_error_event(client, upstream):
    upstream.queue(cut_after=2)
    events = sse_headed(
        client.post("/v1/responses", json={"model": "gpt-4o", "input": "x", "stream": True}).get_data(), b"event"
    )
    name, error = events[-1]
    assert name == "error" and error["type"] == "error" and error["code"] == "upstream_error"
    assert error["sequence_number"] == events[-2][1]["sequence_number"] + 1
    assert "response.completed" not in [n for n, _ in events]


def test_failures_before_the_stream_get_their_real_status(client, upstream):
    upstream.queue(status=429, retry_after="3")
    refused = client.post("/v1/responses", json={"model": "gpt-4o", "input": "x", "stream": True})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    assert refused.get_json()["error"]["code"] == "rate_limit_exceeded"


def test_usage_goes_to_the_ledger_and_the_token_limit(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A,), token_limit="1000/hour").test_client()
    client.post(
        "/v1/responses",
        json={"model": "gpt-4o", "input": "one two three", "max_output_tokens": 10},
        headers=auth(TOKEN_A),
    )
    client.post(
        "/v1/responses",
        json={"model": "gpt-4o", "input": "four", "stream": True, "max_output_tokens": 10},
        headers=auth(TOKEN_A),
    ).get_data()
    client.post(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a b", "c"]}, headers=auth(TOKEN_A)
    )
    usage = client.get("/usage", headers=auth(TOKEN_A)).get_json()["usage"]
    assert usage["gpt-4o"] == {
        "prompt_tokens": 3 + 1,
        "cached_prompt_tokens": 0,
        "completion_tokens": 5 + 5,
        "total_tokens": 14,
        "calls": 2,
        "estimated_calls": 0,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
        "cost_usd": 0.00011,  # 4 x $2.50 + 10 x $10 per 1M
        "saved_usd": 0.0,
    }
    assert usage["text-embedding-3-small"] == {
        "prompt_tokens": 3,
        "cached_prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 3,
        "calls": 1,
        "estimated_calls": 0,
        "cache_hits": 0,
        "saved_prompt_tokens": 0,
        "saved_completion_tokens": 0,
        "cost_usd": 0.00000006,  # 3 x $0.02 per 1M
        "saved_usd": 0.0,
    }
    last = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers=auth(TOKEN_A))
    assert last.headers["X-RateLimit-Remaining-Tokens"] == str(1000 - 17 - 1)  # what was spent, then this call


def test_a_stored_response_is_its_makers_only(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B)).test_client()
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "mine"}, headers=auth(TOKEN_A)).get_json()
    streamed = client.post(
        "/v1/responses", json={"model": "gpt-4o", "input": "mine too", "stream": True}, headers=auth(TOKEN_A)
    )
    streamed_id = sse_headed(streamed.get_data(), b"event")[0][1]["response"]["id"]
    for response_id in (made["id"], streamed_id):
        assert client.get(f"/v1/responses/{response_id}", headers=auth(TOKEN_A)).get_json()["id"] == response_id
        items = client.get(f"/v1/responses/{response_id}/input_items", headers=auth(TOKEN_A)).get_json()
        assert items["object"] == "list" and items["data"][0]["role"] == "user"
        for method, path in (("get", ""), ("get", "/input_items"), ("post", "/cancel"), ("delete", "")):
            other = getattr(client, method)(f"/v1/responses/{response_id}{path}", headers=auth(TOKEN_B))
            assert other.status_code == 404 and other.get_json()["error"]["message"].startswith("No response found")
    reads = len(upstream.requests_to("GET", made["id"]))
    assert client.post(f"/v1/responses/{made['id']}/cancel", headers=auth(TOKEN_A)).get_json()["status"] == "cancelled"
    deleted = client.delete(f"/v1/responses/{made['id']}", headers=auth(TOKEN_A)).get_json()
    assert deleted == {"id": made["id"], "object": "response.deleted", "deleted": True}
    assert len(upstream.requests_to("GET", made["id"])) == reads  # B's attempts never reached the upstream


def test_embeddings_are_relayed_from_the_embedding_catalogue(client, upstream):
    answer = client.post(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hello world", "dimensions": 4}
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["object"] == "list" and len(body["data"][0]["embedding"]) == 4
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    chat_model = client.post("/v1/embeddings", json={"model": "gpt-4o", "input": "x"})
    assert chat_model.status_code == 404 and chat_model.get_json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "text-embedding-3-small"}, "input"),
        ({"model": "text-embedding-3-small", "input": 5}, "input"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 2**63 - 2}, "dimensions"),
    ],
)
def test_bad_embedding_requests_are_400(client, upstream, body, param):
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["param"].startswith(param)
    assert upstream.requests_to("POST", "/embeddings") == []


@pytest.mark.parametrize("token_ids", ["[18446744073709551616]", "[[1, 1180591620717411303424]]", "[-1]"])
def test_a_token_id_out_of_range_is_named_as_such(client, upstream, token_ids):
    raw = '{"model": "text-embedding-3-small", "input": ' + token_ids + "}"  # past what a JSON encoder here writes
    response = client.post("/v1/embeddings", data=raw, content_type="application/json")
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["param"] == "input" and "is not a token id" in error["message"]
    assert upstream.requests_to("POST", "/embeddings") == []


@pytest.mark.parametrize(
    "reference, param",
    [
        (lambda made: {"previous_response_id": made}, "previous_response_id"),
        (lambda made: {"previous_response_id": "resp_never_made"}, "previous_response_id"),
        (lambda made: {"conversation": "conv_someone_elses"}, "conversation"),
        (lambda made: {"conversation": {"id": "conv_someone_elses"}}, "conversation"),
        (lambda made: {"input": [{"type": "item_reference", "id": "msg_someone_elses"}]}, "input"),
    ],
)
def test_a_request_cannot_build_on_what_another_caller_made(make_app, upstream, reference, param):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B)).test_client()
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "A's secret"}, headers=auth(TOKEN_A))
    sent = len(upstream.requests)
    for stream in (False, True):
        body = {"model": "gpt-4o", "input": "what did I say?", "stream": stream, **reference(made.get_json()["id"])}
        taken = client.post("/v1/responses", json=body, headers=auth(TOKEN_B))
        assert taken.status_code == 404 and taken.get_json()["error"]["param"] == param
        assert taken.get_json()["error"]["message"].startswith("No ")
    assert len(upstream.requests) == sent  # never sent upstream


def test_the_maker_continues_its_own_response(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B)).test_client()
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "remember 7"}, headers=auth(TOKEN_A))
    body = {"model": "gpt-4o", "input": "what number?", "previous_response_id": made.get_json()["id"]}
    assert client.post("/v1/responses", json=body, headers=auth(TOKEN_A)).status_code == 200
    assert upstream.requests_to("POST", "/responses")[-1].body["previous_response_id"] == made.get_json()["id"]


def test_a_stored_responses_query_reaches_the_upstream_as_it_was_sent(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A,)).test_client()
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "mine"}, headers=auth(TOKEN_A)).get_json()
    query = (
        "limit=1&order=asc&after=item_1&include[]=message.input_image.image_url&include[]=reasoning.encrypted_content"
    )
    client.get(f"/v1/responses/{made['id']}/input_items?{query}", headers=auth(TOKEN_A))
    client.get(f"/v1/responses/{made['id']}?include_obfuscation=false", headers=auth(TOKEN_A))
    listed, retrieved = upstream.requests_to("GET", "/input_items")[-1], upstream.requests_to("GET", made["id"])[-1]
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(listed.path).query)
    assert sent == {
        "limit": ["1"],
        "order": ["asc"],
        "after": ["item_1"],
        "include[]": ["message.input_image.image_url", "reasoning.encrypted_content"],
    }
    assert urllib.parse.urlsplit(retrieved.path).query == "include_obfuscation=false"


def test_a_prompt_template_may_name_the_model(client, upstream):
    prompt = {"id": "pmpt_123", "version": "2", "variables": {"city": "Paris"}}
    made = client.post("/v1/responses", json={"prompt": prompt, "input": "hi"})
    assert made.status_code == 200
    sent = upstream.requests_to("POST", "/responses")[-1].body
    assert "model" not in sent and sent["prompt"] == prompt
    neither = client.post("/v1/responses", json={"input": "hi"})
    assert neither.status_code == 400 and "'model' is required" in neither.get_json()["error"]["message"]


def test_compaction_is_relayed_under_the_callers_limits_and_metered(make_app, upstream):
    client = make_app(api_tokens=(TOKEN_A, TOKEN_B), token_limit="10000/hour").test_client()
    body = {"model": "gpt-4o", "input": [{"role": "user", "content": "a long conversation"}]}
    compacted = client.post("/v1/responses/compact", json=body, headers=auth(TOKEN_A))
    assert compacted.status_code == 200 and compacted.get_json()["output"][0]["type"] == "compaction"
    assert int(compacted.headers["X-RateLimit-Remaining-Tokens"]) < 10000  # reserved, as any call
    assert upstream.requests_to("POST", "/responses/compact")[-1].body["input"] == body["input"]
    usage = client.get("/usage", headers=auth(TOKEN_A)).get_json()["usage"]["gpt-4o"]
    assert usage["calls"] == 1 and usage["total_tokens"] > 0
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "x"}, headers=auth(TOKEN_A)).get_json()
    theirs = client.post(
        "/v1/responses/compact", json={"model": "gpt-4o", "previous_response_id": made["id"]}, headers=auth(TOKEN_B)
    )
    assert theirs.status_code == 404  # another caller's stored response is not there to compact


def test_context_management_reaches_the_upstream(client, upstream):
    managed = {"model": "gpt-4o", "input": "hi", "context_management": [{"type": "compaction", "threshold": 1000}]}
    assert client.post("/v1/responses", json=managed).status_code == 200
    assert upstream.requests_to("POST", "/responses")[-1].body["context_management"] == managed["context_management"]


def test_a_background_response_holds_its_reservation_and_is_settled_with_nobody_polling(make_app, upstream):
    client = make_app(
        api_tokens=(TOKEN_A, TOKEN_B), token_limit="10000/hour", background_poll_seconds=0.02
    ).test_client()
    queued = client.post(
        "/v1/responses",
        json={"model": "gpt-4o", "input": "a long task", "background": True, "max_output_tokens": 500},
        headers=auth(TOKEN_A),
    )
    assert queued.get_json()["status"] == "queued"
    held = int(queued.headers["X-RateLimit-Remaining-Tokens"])
    assert held <= 10000 - 500  # the worst case is held while the upstream works
    deadline = time.monotonic() + 10
    while not (usage := client.get("/usage", headers=auth(TOKEN_A)).get_json()["usage"]):  # nobody reads it
        assert time.monotonic() < deadline, "the background response was never settled"
        time.sleep(0.02)
    assert usage["gpt-4o"]["calls"] == 1 and usage["gpt-4o"]["estimated_calls"] == 0  # its real usage
    after = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers=auth(TOKEN_A))
    assert int(after.headers["X-RateLimit-Remaining-Tokens"]) > held  # the reservation settled to what it used
    response_id = queued.get_json()["id"]
    assert client.get(f"/v1/responses/{response_id}", headers=auth(TOKEN_A)).get_json()["status"] == "completed"
    assert client.get(f"/v1/responses/{response_id}", headers=auth(TOKEN_B)).status_code == 404
    assert client.post(f"/v1/responses/{response_id}/cancel", headers=auth(TOKEN_B)).status_code == 404


def test_a_stored_response_streams_its_events_to_its_owner_from_starting_after(make_app, upstream):
    app = make_app(api_tokens=(TOKEN_A, TOKEN_B))
    client = app.test_client()
    made = client.post("/v1/responses", json={"model": "gpt-4o", "input": "hi"}, headers=auth(TOKEN_A)).get_json()
    streamed = client.get(f"/v1/responses/{made['id']}?stream=true", headers=auth(TOKEN_A))
    assert streamed.mimetype == "text/event-stream"
    events = [event for _, event in sse_headed(streamed.get_data(), b"event")]
    assert [e["type"] for e in events] == ["response.created", "response.output_text.delta", "response.completed"]
    assert events[-1]["response"]["id"] == made["id"]
    later = client.get(f"/v1/responses/{made['id']}?stream=true&starting_after=1", headers=auth(TOKEN_A))
    assert [event["sequence_number"] for _, event in sse_headed(later.get_data(), b"event")] == [2]
    assert client.get(f"/v1/responses/{made['id']}?stream=true", headers=auth(TOKEN_B)).status_code == 404
    sdk = openai.OpenAI(
        base_url="http://service/v1",
        api_key=TOKEN_A,
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.WSGITransport(app=app)),
    )
    types = [event.type for event in sdk.responses.retrieve(made["id"], stream=True)]  # the SDK reads it too
    assert types == ["response.created", "response.output_text.delta", "response.completed"]


def test_a_get_without_the_websocket_upgrade_is_told_to_upgrade(client, upstream):
    answer = client.get("/v1/responses")
    assert answer.status_code == 426 and answer.headers["Upgrade"] == "websocket"
    error = answer.get_json()["error"]
    assert error["type"] == "invalid_request_error" and "WebSocket" in error["message"]
    assert upstream.requests == []
