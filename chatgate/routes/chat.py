"""The core chat endpoints: POST /chat and POST /chat/stream (Core)."""

from __future__ import annotations

from flask import Blueprint

from chatgate.cache import answered, streamed
from chatgate.errors import ApiError, UpstreamFailed
from chatgate.guard.credentials import credentials
from chatgate.guard.rate_limits import spends_key
from chatgate.models import offered_model
from chatgate.routes.schemas.core import CHAT_STREAM_FRAMES, CORE_ERRORS, ChatRequest, ChatResponse
from chatgate.routes.schemas.sampling import SAMPLING_FIELDS
from chatgate.upstream import EventStream, upstream_client
from chatgate.upstream.event_stream import text_of
from chatgate.upstream.hooks import bounded_usage
from chatgate.web import sse
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer
from chatgate.web.validation import json_body

bp = Blueprint("chat", __name__)


def upstream_payload(body: ChatRequest) -> dict:
    """The chat completion request for `body`, on a model from the catalogue."""
    history = [turn.model_dump() for turn in body.messages]
    return {
        "model": offered_model(body.model),
        "messages": history + [{"role": "user", "content": body.message}],
        **body.model_dump(include=set(SAMPLING_FIELDS), exclude_none=True),
    }


def _usage(usage: dict | None) -> dict:
    usage = bounded_usage(usage if isinstance(usage, dict) else {})
    return {key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens")}


@bp.post("/chat")
@spends_key
@documented(responses={200: ChatResponse, **CORE_ERRORS})
@json_body(ChatRequest)
def chat(body: ChatRequest):
    """Create chat completion."""
    payload, key = upstream_payload(body), credentials().upstream_key()
    answer, headers = answered("chat", payload, key, lambda: upstream_client().complete(payload, key))
    try:
        reply = text_of(answer["choices"][0]["message"].get("content") or "")
    except (KeyError, IndexError, TypeError, AttributeError):
        reply = None
    if reply is None:
        raise UpstreamFailed("The upstream's answer had no reply text in it.")
    return {
        "response": reply,
        "model": answer.get("model") or payload["model"],
        "conversation": payload["messages"] + [{"role": "assistant", "content": reply}],
        "usage": _usage(answer.get("usage")),
    }, headers


def _content_frames(upstream: EventStream):
    for event in upstream:
        if content := event.content:
            yield sse.event({"content": content})
    yield sse.event({"done": True, "usage": _usage(upstream.usage)})


def _error_frame(error: ApiError) -> bytes:
    return sse.event({"error": error.message})


@bp.post("/chat/stream")
@spends_key
@documented(responses=CORE_ERRORS, streams="text/event-stream", frames=CHAT_STREAM_FRAMES)
@json_body(ChatRequest)
def chat_stream(body: ChatRequest):
    """Create streaming chat completion."""
    payload, key = upstream_payload(body), credentials().upstream_key()
    upstream, headers = streamed("chat", payload, key, lambda: upstream_client().stream(payload, key))
    return stream_answer(upstream, _content_frames(upstream), _error_frame, "text/event-stream", headers)
