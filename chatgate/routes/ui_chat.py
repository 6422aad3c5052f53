"""`useChat` against the service: POST /api/chat with a useChat body answers in the AI SDK's UI message stream, and
GET /api/chat/{chatId}/stream resumes it after a reload, DELETE stops it."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response

from chatgate.errors import ApiError, NotFound
from chatgate.guard.access import current_caller
from chatgate.guard.credentials import credentials
from chatgate.guard.ownership import ownership
from chatgate.models import offered_model
from chatgate.routes.schemas.sampling import SAMPLING_FIELDS
from chatgate.routes.schemas.ui_chat import UI_CHAT_FRAMES, UIChatRequest, UIMessage
from chatgate.storage.keys import escaped
from chatgate.streams import resumable, stream_buffer
from chatgate.telemetry import current_trace_id, link_to
from chatgate.upstream import EventStream, upstream_client
from chatgate.upstream.hooks import bounded_usage
from chatgate.web import sse
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer, streamed_response

bp = Blueprint("ui_chat", __name__)

UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
KEPT_FOR = 24 * 3600  # how long a chat id leads to its last stream


def is_ui_chat(data: dict) -> bool:
    """A useChat body: UI messages, and none of the Sessions surface's own fields."""
    return isinstance(data.get("messages"), list) and "user_message" not in data and "developer_message" not in data


def _content(message: UIMessage):
    text = "".join(part.text or "" for part in message.parts if part.type == "text")
    images = [
        part.url
        for part in message.parts
        if part.type == "file" and (part.mediaType or "").startswith("image/") and part.url
    ]
    if not images or message.role != "user":
        return text
    return [{"type": "text", "text": text}, *({"type": "image_url", "image_url": {"url": url}} for url in images)]


def upstream_messages(body: UIChatRequest) -> list[dict]:
    """The conversation as the upstream takes it: the system prompt first, then the turns; to regenerate, the last
    assistant message is left out so that it is answered again."""
    messages = list(body.messages)
    if body.trigger == "regenerate-message" and messages and messages[-1].role == "assistant":
        messages.pop()
    turns = [{"role": m.role, "content": _content(m)} for m in messages]
    return ([{"role": "system", "content": body.system}] if body.system else []) + turns


def _frames(upstream: EventStream, message_id: str):
    yield sse.event({"type": "start", "messageId": message_id})
    yield sse.event({"type": "start-step"})
    yield sse.event({"type": "text-start", "id": "text-1"})
    for event in upstream:
        if content := event.content:
            yield sse.event({"type": "text-delta", "id": "text-1", "delta": content})
    yield sse.event({"type": "text-end", "id": "text-1"})
    yield sse.event({"type": "finish-step"})
    usage = bounded_usage(upstream.usage or {})
    metadata = {
        "model": upstream.model,
        "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
    }
    yield sse.event({"type": "finish", "finishReason": "stop", "messageMetadata": metadata})
    yield sse.DONE


def _error_chunk(error: ApiError) -> bytes:
    return sse.event({"type": "error", "errorText": error.message})


def _alias(chat_id: str) -> str:
    # Chat ids are the clients', so the mapping is each caller's own; the caller's name is escaped, so that no
    # caller's name and chat id spell another caller's.
    return f"{escaped(current_caller())}|{chat_id}"


def _owned_stream(chat_id: str) -> str | None:
    """The stream a chat of this caller's has going (or had lately), if any."""
    stream_id = stream_buffer().named(_alias(chat_id))
    owned = stream_id is not None and ownership().owns("stream", stream_id, ownership().identities())
    if owned and current_trace_id():  # traces on: this reading links to the request that started the stream
        link_to(ownership().recorded_trace(stream_id))
    return stream_id if owned else None


def answer_ui_chat(body: UIChatRequest) -> Response:
    """Stream the reply to a useChat request in the UI message stream protocol."""
    sampling = body.model_dump(include=set(SAMPLING_FIELDS), exclude_none=True)
    payload = {"model": offered_model(body.model), "messages": upstream_messages(body), **sampling}
    upstream = upstream_client().stream(payload, credentials().upstream_key())
    message_id = body.messageId or f"msg-{secrets.token_urlsafe(12)}"
    response = stream_answer(
        upstream, _frames(upstream, message_id), _error_chunk, "text/event-stream", UI_STREAM_HEADERS
    )
    if stream_id := response.headers.get("X-Stream-ID"):
        stream_buffer().alias(_alias(body.id), stream_id, KEPT_FOR)
    return response


@bp.get("/chat/<chat_id>/stream")
@documented(responses={204: "text/plain"}, streams="text/event-stream", frames=UI_CHAT_FRAMES)
def resume(chat_id: str):
    """Resume a chat's answer after a reload (useChat's resume), or 204 when it has no stream going."""
    stream_id = _owned_stream(chat_id)
    if stream_id is None or stream_buffer().finished(stream_id):
        return Response(status=204, mimetype="text/plain")
    return streamed_response(
        resumable.read(stream_id, 0, "sse"), "text/event-stream", {**UI_STREAM_HEADERS, "X-Stream-ID": stream_id}
    )


@bp.delete("/chat/<chat_id>/stream")
@documented(responses={200: dict, 404: dict})
def stop(chat_id: str):
    """Stop a chat's answer and its upstream call at once, from any instance (useChat's Stop with resume)."""
    stream_id = _owned_stream(chat_id)
    if stream_id is None:
        raise NotFound("No stream of yours is going for that chat.")
    stream_buffer().stop(stream_id)
    return {"chatId": chat_id, "stopped": True}
