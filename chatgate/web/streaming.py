"""Streamed responses that start at once, never buffer, and close the upstream when the client leaves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

from flask import Response, g, request, stream_with_context

from chatgate.config import current_settings
from chatgate.errors import ApiError
from chatgate.guard.concurrency import hand_over_slot
from chatgate.guard.metrics import count_stream_end
from chatgate.guard.ownership import ownership
from chatgate.storage.records import RUNNING_FOR
from chatgate.streams import resumable
from chatgate.streams.resumable import wants_resumable
from chatgate.telemetry import current_traceparent
from chatgate.upstream import EventStream
from chatgate.web.recent_calls import record_stream_end
from chatgate.web.request_log import loggable_path

log = logging.getLogger(__name__)
stream_log = logging.getLogger("streams")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def relay(
    upstream: EventStream,
    frames: Iterable[bytes],
    on_error: Callable[[ApiError], bytes],
    surface: str,
    started: float,
) -> Iterator[bytes]:
    """Yield `frames`; a failure becomes one last `on_error` frame, and the upstream is always closed.

    When the client goes away the WSGI server closes this generator, and the
    `finally` closes the upstream connection straight away. The line it logs at the end names `surface`
    and the time since `started`, given here: a resumable stream's producer has no request of its own.
    """
    outcome = "client left"  # unless the frames run out, or fail: the server closed us mid-way
    try:
        yield from frames
        outcome = upstream.stopped_as or "finished"
    except ApiError as error:
        outcome = "upstream failed"
        log.warning("stream failed after it started: %s", error.message)
        yield on_error(error)
    finally:
        upstream.close()
        _log_end(upstream, outcome, surface, started)
        record_stream_end(outcome)


def _log_end(upstream: EventStream, outcome: str, surface: str, started: float) -> None:
    """One line when a stream ends: where, which model, whose, how, how long, how many tokens."""
    count_stream_end(outcome)
    seconds = time.perf_counter() - started
    usage = upstream.total_usage or {}
    fields = {
        "surface": surface,
        "model": upstream.model,
        "caller": upstream.caller,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 1),
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
    }
    stream_log.info(
        "stream ended: %s %s %s %s after %.1fs, %s+%s tokens",
        fields["surface"],
        fields["model"],
        fields["caller"],
        outcome,
        seconds,
        fields["prompt_tokens"],
        fields["completion_tokens"],
        extra={"fields": fields},
    )


def stream_answer(
    upstream: EventStream,
    frames: Iterable[bytes],
    on_error: Callable[[ApiError], bytes],
    mimetype: str,
    headers: dict | None = None,
    owners: frozenset[str] | None = None,
) -> Response:
    """The streamed answer of a surface: relayed as it comes, or, when the caller asks for a resumable stream,
    through the shared buffer, with its id in `X-Stream-ID` (and an `id:` on every SSE event). A resumable
    stream belongs to `owners` (default: the caller's identities, as a session's would be)."""
    body = relay(upstream, frames, on_error, loggable_path(request.path), g.get("started", time.perf_counter()))
    headers = {**upstream.answer_headers, **(headers or {})}
    if not wants_resumable():
        return streamed_response(body, mimetype, headers)
    kind = "sse" if mimetype == "text/event-stream" else "text"
    owners = owners or ownership().identities()
    kept_for = RUNNING_FOR + int(current_settings().stream_retention)

    def claim(stream_id: str) -> None:  # its caller's, like a stored response: on every instance
        ownership().claim("stream", stream_id, owners, kept_for)
        if traceparent := current_traceparent():  # traces on: those who resume it link to this request's span
            ownership().record_trace(stream_id, traceparent, kept_for)

    # The generation counts against its caller's concurrency until it ends.
    stream_id = resumable.start(upstream, body, kind, claim, hand_over_slot())
    return streamed_response(resumable.read(stream_id, 0, kind), mimetype, {**headers, "X-Stream-ID": stream_id})


def streamed_response(body: Iterator[bytes], mimetype: str, headers: dict | None = None) -> Response:
    """A response that sends each piece of `body` as soon as it is produced."""
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers.update(STREAM_HEADERS)
    response.headers.update(headers or {})
    return response
