"""Resumable streams: the upstream is read by a producer that writes every frame to the shared buffer, and
every reader (the first client, or one that comes back with `GET /streams/{id}`) reads from there.

The producer runs apart from the request, so a client that drops does not stop the generation: it
goes on for STREAM_RESUME_WINDOW seconds after the last reader left, or until `DELETE
/streams/{id}` asks it to stop from any instance; then the upstream is closed and the usage so
far is recorded, once, by the producer.
"""

from __future__ import annotations

import contextvars
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from flask import copy_current_request_context, request

from chatgate.config import current_settings
from chatgate.streams import StreamBuffer, stream_buffer

WATCH_SECONDS = 0.2  # how often the producer's watcher looks for a stop or for readers
READ_WAIT = 1.0  # how long a reader waits for a frame before it says it is still there


class Stoppable(Protocol):
    """What the producer needs of the upstream's event stream: to end it early."""

    def stop(self, reason: str) -> None: ...


def start(
    upstream: Stoppable,
    frames: Iterator[bytes],
    kind: str,
    claim: Callable[[str], None],
    release_slot: Callable[[], None],
) -> str:
    """Begin a resumable stream: a producer moves `frames` into the buffer; its id is returned. `claim(id)` makes
    it its caller's before anyone can read it; `release_slot()` is called when the generation ends (it counts
    against its caller's concurrency until then)."""
    stream_id = secrets.token_urlsafe(18)
    buffer = stream_buffer()
    buffer.create(stream_id, kind)
    claim(stream_id)
    window = current_settings().stream_resume_window

    @copy_current_request_context  # the app and the request; the upstream call carries its caller itself
    def produce():
        ending = threading.Event()
        watcher = threading.Thread(target=_watch, args=(buffer, stream_id, upstream, window, ending), daemon=True)
        watcher.start()
        try:
            for seq, frame in enumerate(frames, start=1):
                buffer.append(stream_id, seq, frame)
        finally:
            ending.set()
            try:
                frames.close()
                buffer.finish(stream_id)
            finally:
                release_slot()

    # In a copy of this context: the producer's log lines carry the request's id.
    threading.Thread(target=contextvars.copy_context().run, args=(produce,), daemon=True).start()
    return stream_id


def _watch(buffer: StreamBuffer, stream_id: str, upstream: Stoppable, window: float, ending: threading.Event) -> None:
    """Close the upstream when a stop is asked for, or when no reader has been there for `window` seconds."""
    while not ending.wait(WATCH_SECONDS):
        stopped, touched = buffer.state(stream_id)
        if stopped or time.time() - touched > window + READ_WAIT:
            upstream.stop("stopped" if stopped else "abandoned")
            return


def read(stream_id: str, after: int, kind: str) -> Iterator[bytes]:
    """The frames after number `after`, then the live ones until the end; SSE frames carry their `id:`."""
    buffer = stream_buffer()
    while True:
        buffer.touch(stream_id)
        frames, finished = buffer.read(stream_id, after, READ_WAIT)
        for seq, frame in frames:
            yield b"id: %d\n" % seq + frame if kind == "sse" else frame
            after = seq
        if finished and not frames:
            return


def read_text_from(stream_id: str, offset: int) -> Iterator[bytes]:
    """A text stream from byte `offset` on."""
    skipped = 0
    for frame in read(stream_id, 0, "text"):
        if skipped + len(frame) <= offset:
            skipped += len(frame)
            continue
        yield frame[max(0, offset - skipped) :]
        skipped = offset


def wants_resumable() -> bool:
    """Whether this answer goes through the shared buffer: RESUMABLE_STREAMS=always, or `X-Resumable: true`."""
    return current_settings().resumable_streams == "always" or request.headers.get(
        "X-Resumable", ""
    ).strip().lower() in ("1", "true", "yes")
