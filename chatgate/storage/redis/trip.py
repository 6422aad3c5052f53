"""Writes that go to Redis together: what the end of a call writes (its budgets' settlements, its usage) travels
in one MULTI ... EXEC, one round trip, instead of one round trip each."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator

import redis

from chatgate.storage.outage import STORAGE_ERRORS

log = logging.getLogger(__name__)

Build = Callable[[redis.client.Pipeline], None]
Queued = tuple[Build, str, Callable[[], None] | None]  # what to send, what it is, what to do if it is lost
_trip: contextvars.ContextVar[list[Queued] | None] = contextvars.ContextVar("redis_trip", default=None)


def send_or_queue(client: redis.Redis, build: Build, what: str, if_lost: Callable[[], None] | None = None) -> None:
    """Queue `build`'s commands on the trip under way, or, with none, send them now in a MULTI of their own (and
    raise if Redis is down). A queued write that the trip loses calls `if_lost`, or else is logged as `what`."""
    trip = _trip.get()
    if trip is None:
        pipe = client.pipeline(transaction=True)
        build(pipe)
        pipe.execute()
    else:
        trip.append((build, what, if_lost))


@contextlib.contextmanager
def one_trip(client: redis.Redis) -> Iterator[None]:
    """Within the block, `send_or_queue` queues; they all go when it ends, together. A failure loses each of them in
    its own way, and never reaches the block's caller: the answer has been made by then."""
    if _trip.get() is not None:
        yield
        return
    queued: list[Queued] = []
    token = _trip.set(queued)
    try:
        yield
    finally:
        _trip.reset(token)
        if queued:
            _send(client, queued)


def _send(client: redis.Redis, queued: list[Queued]) -> None:
    pipe = client.pipeline(transaction=True)
    for build, _, _ in queued:
        build(pipe)
    try:
        pipe.execute()
    except STORAGE_ERRORS as error:
        for _, what, if_lost in queued:
            if if_lost is not None:
                if_lost()
            else:
                log.warning("storage unavailable, not recorded: %s (%s: %s)", what, type(error).__name__, error)
