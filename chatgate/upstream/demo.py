"""The demo model: an upstream inside the service, so that a frontend can be built before any key exists.

`chatgate serve --demo` (or DEMO=true) puts it in place of every upstream. It sits under the SDK as its
transport, so each surface, stream and SSE frame takes the very path a real upstream's answer takes; it answers
at once, offline, in OpenAI's wire format (`upstream.wire`), and every reply says it comes from the demo. No key
is sent anywhere, and none is needed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import orjson

from chatgate.models import EMBEDDING_MODELS, MODELS
from chatgate.upstream import wire
from chatgate.upstream.event_stream import text_of

PACE = 0.02  # seconds between two pieces of a streamed reply, so that a page shows it arriving


def reply_to(body: dict[str, Any]) -> str:
    """What the demo says: that it is the demo, and what it was asked."""
    asked = _last_user_text(body).strip()
    quoted = f" You asked: “{asked[:200]}{'…' if len(asked) > 200 else ''}”." if asked else ""
    return (
        "Hello from chatgate's demo model. No OpenAI key is in use, so this answer is made up offline and"
        f" means nothing.{quoted} Start chatgate without --demo, with OPENAI_API_KEY_CYB_SEC set, for real answers."
    )


def _last_user_text(body: dict[str, Any]) -> str:
    turns = body.get("messages") or body.get("input") or []
    if isinstance(turns, str):
        return turns
    for turn in reversed(turns if isinstance(turns, list) else []):
        if isinstance(turn, dict) and turn.get("role") == "user":
            return text_of(turn.get("content")) or ""
    return ""


class DemoTransport(httpx2.BaseTransport):
    """Answers the SDK's requests itself: models, chat completions, responses and embeddings, plain or streamed."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1")
        if request.method == "GET" and path == "/models":
            return _json({"object": "list", "data": [_model(name) for name in MODELS + EMBEDDING_MODELS]})
        body = orjson.loads(request.read() or b"{}") if request.method == "POST" else {}
        if path == "/chat/completions":
            return self._answer(body, wire.chat_completion, wire.chat_frames)
        if path == "/responses":
            return self._answer(body, wire.response_object, wire.response_frames)
        if path == "/embeddings":
            return _json(wire.embeddings(body))
        return _json({"error": {"message": f"The demo model has no {path}.", "type": "invalid_request_error"}}, 404)

    @staticmethod
    def _answer(body: dict[str, Any], whole: Any, frames: Any) -> httpx2.Response:
        reply = reply_to(body)
        if not body.get("stream"):
            return _json(whole(body, reply))
        return httpx2.Response(
            200, headers={"Content-Type": "text/event-stream"}, stream=_Paced(_sse(frames(body, reply)))
        )


class _Paced(httpx2.SyncByteStream):
    def __init__(self, frames: Iterator[bytes]):
        self._frames = frames

    def __iter__(self) -> Iterator[bytes]:
        for number, frame in enumerate(self._frames):
            if number:
                time.sleep(PACE)
            yield frame


def _sse(frames: list[wire.Frame]) -> Iterator[bytes]:
    for event, payload, _ in frames:
        data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        yield (f"event: {event}\n" if event else "").encode() + f"data: {data}\n\n".encode()


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "chatgate-demo"}


def _json(payload: dict[str, Any], status: int = 200) -> httpx2.Response:
    return httpx2.Response(status, content=orjson.dumps(payload), headers={"Content-Type": "application/json"})
