"""POST /api/chat with a useChat body, in one process: the UI message stream's frames, the Sessions body untouched,
bad bodies in the surface's shape, and 204 for a chat with no stream."""

import json
import threading

from tests.support.keys import secret
from tests.support.sse import sse_payloads

UI_BODY = {
    "id": "chat-1",
    "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]}],
    "trigger": "submit-message",
}


def test_a_use_chat_body_gets_the_ui_message_stream(client, upstream):
    response = client.post("/api/chat", json=UI_BODY)
    assert response.status_code == 200 and response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    body = response.get_data()
    assert body.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(data) for data in sse_payloads(body) if data != b"[DONE]"]
    assert [c["type"] for c in chunks[:3]] == ["start", "start-step", "text-start"]
    assert [c["type"] for c in chunks[-3:]] == ["text-end", "finish-step", "finish"]
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "Hello from the fake upstream."
    assert upstream.last_chat_body()["messages"] == [{"role": "user", "content": "Hello"}]


def test_an_image_part_goes_upstream_as_an_image(client, upstream):
    image = {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,iVBORw0KGgo="}
    body = {**UI_BODY, "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "What?"}, image]}]}
    client.post("/api/chat", json=body).get_data()
    assert upstream.last_chat_body()["messages"][0]["content"] == [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": image["url"]}},
    ]


def test_the_sessions_body_keeps_its_plain_text_and_bad_use_chat_bodies_get_the_surfaces_shape(client, upstream):
    plain = client.post("/api/chat", json={"developer_message": "d", "user_message": "hi"})
    assert plain.mimetype == "text/plain" and plain.get_data() == b"Hello from the fake upstream."
    bad = client.post("/api/chat", json={**UI_BODY, "messages": []})
    assert bad.status_code == 422 and bad.get_json()["detail"][0]["loc"] == ["body", "messages"]


def test_a_chat_with_no_stream_is_204(client):
    assert client.get("/api/chat/never-streamed/stream").status_code == 204


def test_stop_ends_a_resumable_chats_generation_for_its_owner_only(make_app, upstream):
    a, b = secret("tok-ua-" + "1" * 30), secret("tok-ub-" + "2" * 30)
    client = make_app(api_tokens=(a, b)).test_client()
    release = threading.Event()
    with upstream.behave(reply="one two three four five six", wait_for=release, hold_after=1):
        first = client.post("/api/chat", json=UI_BODY, headers={"X-API-Key": a, "X-Resumable": "true"}, buffered=False)
        next(first.response)
        assert client.delete("/api/chat/chat-1/stream", headers={"X-API-Key": b}).status_code == 404
        assert not upstream.stream_aborted.is_set()  # another caller's stop touches nothing
        stopped = client.delete("/api/chat/chat-1/stream", headers={"X-API-Key": a})
        assert stopped.status_code == 200 and stopped.get_json() == {"chatId": "chat-1", "stopped": True}
        assert upstream.stream_aborted.wait(5)
        release.set()
        first.close()
    assert client.delete("/api/chat/never-streamed/stream", headers={"X-API-Key": a}).status_code == 404
