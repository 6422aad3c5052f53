"""The simple backend's endpoint (Simple backend): POST /ask streams the reply as plain text."""

from __future__ import annotations

from flask import Blueprint

from chatgate.cache import streamed
from chatgate.errors import ApiError
from chatgate.guard.credentials import credentials
from chatgate.guard.rate_limits import spends_key
from chatgate.models import catalogue
from chatgate.routes.schemas.ask import ASK_FRAMES, AskError, AskRequest, error_code
from chatgate.upstream import EventStream, upstream_client
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer
from chatgate.web.validation import json_body

bp = Blueprint("ask", __name__)


def _text(upstream: EventStream):
    for event in upstream:
        if content := event.content:
            yield content.encode()


def _error_line(error: ApiError) -> bytes:
    # The headers are gone once text has flowed, so the failure is said in the text itself.
    return f"\n\n[error: {error_code(error)}: {error.message}]".encode()


@bp.post("")
@spends_key
@documented(
    responses={
        400: AskError,
        401: AskError,
        413: AskError,
        415: AskError,
        429: AskError,
        502: AskError,
        503: AskError,
        504: AskError,
    },
    streams="text/plain",
    frames=ASK_FRAMES,
)
@json_body(AskRequest)
def ask(body: AskRequest):
    """Stream the assistant's reply to a conversation as plain text."""
    payload = {"model": catalogue().default, "messages": [turn.model_dump() for turn in body.messages]}
    key = credentials().upstream_key()
    upstream, headers = streamed("chat", payload, key, lambda: upstream_client().stream(payload, key))
    headers = {"x-vercel-ai-data-stream": "v1", **headers}
    return stream_answer(upstream, _text(upstream), _error_line, "text/plain", headers)
