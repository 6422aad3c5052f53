"""Streams the upstream went quiet on: once a stream has started, no byte for STREAM_STALL_SECONDS counts as a cut
(then continued like any other). One thread per process looks at the open streams; a read timeout could not do
this, since the wait for the first byte (a model thinking) may rightly be much longer."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Watched(Protocol):
    """What the watch needs of a stream: when it last heard from the upstream, and a way to end it as stalled."""

    heard_at: float

    def stall(self) -> None: ...


class StallWatch:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._open: dict[int, Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, stream: Watched) -> None:
        """Look after `stream` until it is forgotten (the thread starts with the first, in the process that serves)."""
        with self._lock:
            self._open[id(stream)] = stream
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._look, name="stall-watch", daemon=True)
                self._thread.start()

    def forget(self, stream: Watched) -> None:
        with self._lock:
            self._open.pop(id(stream), None)

    def _look(self) -> None:
        while True:
            time.sleep(max(0.05, self.seconds / 4))
            now = time.monotonic()
            with self._lock:
                stalled = [stream for stream in self._open.values() if now - stream.heard_at > self.seconds]
            for stream in stalled:
                self.forget(stream)
                stream.stall()
