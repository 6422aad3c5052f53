"""Resumable streams: GET /streams/{id} picks a stream up where it was left, DELETE /streams/{id} stops it."""

from __future__ import annotations

from flask import Blueprint, request

from chatgate.errors import BadRequest, NotFound
from chatgate.guard.ownership import ownership
from chatgate.streams import resumable, stream_buffer
from chatgate.telemetry import current_trace_id, link_to
from chatgate.web.openapi import EventFrames, documented
from chatgate.web.streaming import streamed_response

bp = Blueprint("streams", __name__)

RESUME_FRAMES = EventFrames(
    "The stream from where it was left, the same bytes as the first time: SSE streams from the event "
    "after `Last-Event-ID` (or `?last_event_id=N`), each with its `id:`; text streams from byte "
    "`?offset=N`. Then the live rest, until the end.",
    {"type": "object"},
    done=True,
)


def _owned_kind(stream_id: str) -> str:
    owned = ownership().owns("stream", stream_id, ownership().identities())
    kind = stream_buffer().kind_of(stream_id) if owned else None
    if kind is None:
        raise NotFound(
            "No stream with that id: it never was, it is another caller's, or it ended more than "
            "STREAM_RETENTION seconds ago.",
            code="stream_not_found",
        )
    if current_trace_id():  # traces on: this reading links to the request that started the stream
        link_to(ownership().recorded_trace(stream_id))
    return kind


def _number(name: str, value: str | None) -> int:
    try:
        number = int(value or 0)
    except ValueError:
        raise BadRequest(f"'{name}' must be a whole number, not {value!r}.", param=name) from None
    if number < 0:
        raise BadRequest(f"'{name}' must not be negative.", param=name)
    return number


@bp.get("/streams/<stream_id>")
@documented(streams="text/event-stream", frames=RESUME_FRAMES)
def resume(stream_id: str):
    """Resume a stream after a dropped connection, on any instance."""
    kind = _owned_kind(stream_id)
    if kind == "text":
        body = resumable.read_text_from(stream_id, _number("offset", request.args.get("offset")))
        return streamed_response(body, "text/plain", {"X-Stream-ID": stream_id})
    after = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    body = resumable.read(stream_id, _number("last_event_id", after), kind)
    return streamed_response(body, "text/event-stream", {"X-Stream-ID": stream_id})


@bp.delete("/streams/<stream_id>")
def stop(stream_id: str):
    """Stop a stream's generation at once, from any instance (a Stop button)."""
    _owned_kind(stream_id)
    stream_buffer().stop(stream_id)
    return {"id": stream_id, "stopped": True}
