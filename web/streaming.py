"""Streamed responses that start at once, never buffer, and close the upstream when the client leaves."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from flask import Response, stream_with_context

from errors import ApiError
from upstream import UpstreamStream

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def relay(upstream: UpstreamStream, frames: Iterable[bytes], on_error: Callable[[ApiError], bytes]) -> Iterator[bytes]:
    """Yield `frames`; a failure becomes one last `on_error` frame, and the upstream is always closed.

    When the client goes away the WSGI server closes this generator, and the
    `finally` closes the upstream connection straight away.
    """
    try:
        yield from frames
    except ApiError as error:
        log.warning("stream failed after it started: %s", error.message)
        yield on_error(error)
    finally:
        upstream.close()


def streamed_response(body: Iterator[bytes], mimetype: str, headers: dict | None = None) -> Response:
    """A response that sends each piece of `body` as soon as it is produced."""
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers.update(STREAM_HEADERS)
    response.headers.update(headers or {})
    return response
