"""What storage that is down looks like, whichever backend: the service answers 503 and recovers by itself."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator

import redis

STORAGE_ERRORS = (sqlite3.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def outage_noted(what: str) -> Iterator[None]:
    """For writes after the answer has gone (a stream's usage): storage that is down loses this one write,
    said in one log line with what was lost, instead of breaking the stream."""
    try:
        yield
    except STORAGE_ERRORS as error:
        log.warning("storage unavailable, not recorded: %s (%s: %s)", what, type(error).__name__, error)
