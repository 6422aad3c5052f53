"""Identical streams in flight at once: the leading stream publishes its events to a stream buffer in the shared
storage once an identical streamed request waits on it, and every waiting one reads them there as they come, on
any worker of any instance. Nobody waiting: the events are only held in memory, and nothing is written."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator

from chatgate.storage.contracts import StreamBuffer
from chatgate.storage.outage import STORAGE_ERRORS, outage_noted

LOOK_EVERY = 0.05  # seconds between a leading stream's looks for someone waiting on it (a stream shorter: none)
READ_WAIT = 1.0  # how long a follower's read waits for the next event before it looks again


def publication(key: str) -> str:
    """The name under which the leading stream of a cache key says where it publishes."""
    return "cache-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def published(buffer: StreamBuffer, name: str) -> str | None:
    """The buffer the stream named `name` publishes to now, if one does (one that ended is an earlier flight's)."""
    stream_id = buffer.named(name)
    return stream_id if stream_id is not None and not buffer.finished(stream_id) else None


class Publisher:
    """The leading stream's side: its events held until `followed()` says someone waits, then written to a buffer
    of its own (never claimed, so no caller can open it as a resumable stream) named `name`, the held ones first. A
    storage failure ends the publishing, never the leading stream."""

    def __init__(self, buffer: StreamBuffer, name: str, lasts: float, followed: Callable[[], bool]):
        self.buffer, self.name, self.lasts, self.followed = buffer, name, lasts, followed
        self.stream_id = f"{name}-{secrets.token_urlsafe(12)}"
        self.held: list[bytes] = []
        self.written = 0
        self.open = False
        self.looked_at = time.monotonic()

    def add(self, block: bytes) -> None:
        if self.open:
            self._write([block])
            return
        self.held.append(block)
        if time.monotonic() - self.looked_at < LOOK_EVERY:
            return
        self.looked_at = time.monotonic()
        try:
            if not self.followed():
                return
            self.buffer.create(self.stream_id, "sse")
            self.buffer.alias(self.name, self.stream_id, self.lasts)
        except STORAGE_ERRORS:
            return  # the followers wait for the entry instead
        self.open = True
        self._write(self.held)
        self.held = []

    def end(self, closing: bytes | None) -> None:
        """The stream ended: `closing` (its last event, when it ended whole) and the end, for the followers."""
        if not self.open:
            return
        if closing is not None:
            self._write([closing])
        with outage_noted(f"end of the published stream {self.stream_id}"):
            self.buffer.finish(self.stream_id)

    def _write(self, blocks: list[bytes]) -> None:
        try:
            for block in blocks:
                self.buffer.append(self.stream_id, self.written + 1, block)
                self.written += 1
        except STORAGE_ERRORS:
            self.open = False  # the followers see no more: they end as a cut stream


def followed(buffer: StreamBuffer, stream_id: str, patience: float) -> Iterator[bytes]:
    """A published stream's events from the first, as they come, until it ends, or nothing came for `patience`
    seconds."""
    after, heard = 0, time.monotonic()
    while True:
        frames, finished = buffer.read(stream_id, after, READ_WAIT)
        for seq, frame in frames:
            yield frame
            after = seq
        if frames:
            heard = time.monotonic()
        elif finished or time.monotonic() - heard > patience:
            return
