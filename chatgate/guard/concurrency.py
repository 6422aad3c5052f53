"""How many at once: a cap on each caller's requests in flight (streams included, and a resumable stream's
generation until it ends, read or not), per worker process.

It is checked before a request's body is read, so that one caller's slow or endless
requests hold its own slots and never the worker's connections that others need.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import cast

from flask import Flask, Response, current_app, g, request

from chatgate.config import Settings
from chatgate.errors import RateLimited
from chatgate.guard.access import current_caller, is_public

_KEY = "in_flight"


class InFlight:
    """Requests in flight by caller, in this process."""

    def __init__(self, cap: int, on_refusal: Callable[[str], None]):
        self.cap = cap
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._on_refusal = on_refusal

    def admit(self) -> None:
        """Take one of the caller's slots until the request (or its stream) ends; 429 when it has none left."""
        if not self.cap or request.method == "OPTIONS" or is_public(request.path):
            return
        caller = current_caller()
        # Close: the body is not read, and draining it would hold the connection after all.
        self.take(caller, headers={"Connection": "close"})
        g.in_flight_slot = caller

    def take(self, caller: str, headers: dict[str, str] | None = None) -> None:
        """Take one of `caller`'s slots (give it back with `release`); 429 when it has none left."""
        with self._lock:
            full = bool(self.cap) and self.counts[caller] >= self.cap
            if not full:
                self.counts[caller] += 1
        if full:
            self._on_refusal("concurrency")
            raise RateLimited(
                f"Too many requests in flight: at most {self.cap} at once per caller "
                "(MAX_CONCURRENT_PER_CALLER). Try again when one has finished.",
                headers={"Retry-After": "1", **(headers or {})},
            )

    def release(self, caller: str) -> None:
        with self._lock:
            self.counts[caller] -= 1
            if not self.counts[caller]:
                del self.counts[caller]


def hand_over_slot() -> Callable[[], None]:
    """Move the request's slot to work that outlives it (a resumable stream's generation): the slot stays taken
    until the returned function is called, whether or not anyone still reads."""
    caller = g.pop("in_flight_slot", None)
    if caller is None:
        return lambda: None
    in_flight: InFlight = current_app.extensions[_KEY]
    return lambda: in_flight.release(caller)


def give_back_slot() -> None:
    """Give back the request's slot while the request goes on: an open WebSocket is not in flight itself, each
    response it carries is (`holding_slot`)."""
    if (caller := g.pop("in_flight_slot", None)) is not None:
        cast(InFlight, current_app.extensions[_KEY]).release(caller)


@contextlib.contextmanager
def holding_slot() -> Iterator[None]:
    """One of the caller's slots for the block's length (429 when it has none left)."""
    in_flight, caller = cast(InFlight, current_app.extensions[_KEY]), current_caller()
    in_flight.take(caller)
    try:
        yield
    finally:
        in_flight.release(caller)


def init_app(app: Flask, settings: Settings, on_refusal: Callable[[str], None]) -> InFlight:
    """Cap each caller's requests in flight at MAX_CONCURRENT_PER_CALLER (0: no cap)."""
    in_flight = app.extensions[_KEY] = InFlight(settings.max_concurrent_per_caller, on_refusal)

    @app.after_request
    def release_when_sent(response: Response) -> Response:
        if (caller := g.pop("in_flight_slot", None)) is not None:
            if response.is_streamed:  # when the server closes it: once its last byte is sent, or its client left
                response.call_on_close(lambda: in_flight.release(caller))
            else:  # the whole answer exists already
                in_flight.release(caller)
        return response

    @app.teardown_request
    def release_if_unanswered(exc: BaseException | None) -> None:
        if (caller := g.pop("in_flight_slot", None)) is not None:
            in_flight.release(caller)

    return in_flight
