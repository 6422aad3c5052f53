"""Reading a request body with a deadline and a size cap, whatever server runs the app.

A body that never finishes would otherwise hold its worker's connection forever.
"""

from __future__ import annotations

import contextlib
import functools
import time

from flask import current_app, request

from chatgate.config import current_settings
from chatgate.errors import BodyTooSlow, too_large

_CHUNK = 64 * 1024


@functools.cache  # a worker is patched before it loads the app, and stays so
def _gevent_patched() -> bool:
    with contextlib.suppress(ImportError):
        from gevent import monkey

        return monkey.is_module_patched("socket")
    return False


def read_body() -> bytes:
    """The whole body within BODY_TIMEOUT seconds (408 past it) and MAX_REQUEST_BYTES (413 past it)."""
    seconds, limit = current_settings().body_timeout, current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    if _gevent_patched():
        import gevent

        try:
            with gevent.Timeout(seconds or None):
                return _read_capped(request.environ["wsgi.input"], limit)
        except gevent.Timeout:
            raise _too_slow(seconds) from None
    # Threads (the development server, a sync worker): a deadline on each read of the socket.
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    deadline = time.monotonic() + seconds if seconds else None
    try:
        return _read_capped(request.environ["wsgi.input"], limit, sock, deadline)
    except TimeoutError:
        raise _too_slow(seconds) from None


def _read_capped(stream, limit: int, sock=None, deadline: float | None = None) -> bytes:
    length = request.content_length
    parts, size = [], 0
    while length is None or size < length:
        if sock is not None and deadline is not None:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
        part = stream.read(min(_CHUNK, length - size) if length is not None else _CHUNK)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > limit:  # a chunked body has no Content-Length to refuse it by
            raise too_large()
    if sock is not None and deadline is not None:
        sock.settimeout(None)
    return b"".join(parts)


def _too_slow(seconds: float) -> BodyTooSlow:
    error = BodyTooSlow(f"The request body did not arrive within {seconds:g} s (BODY_TIMEOUT).")
    error.headers["Connection"] = "close"  # the rest of the body may still come: this connection is done
    return error
