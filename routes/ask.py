"""The simple backend's endpoint (seed 003): POST /ask streams the reply as plain text."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Flask
from pydantic import BaseModel, ConfigDict, Field

from errors import ApiError, register_shape
from guard.credentials import request_upstream_key
from routes.chat import ChatMessage
from upstream.client import UpstreamStream, chat_client
from web.openapi import documented, error_schema
from web.streaming import relay, streamed_response
from web.validation import json_body

bp = Blueprint("ask", __name__)

# Seed 003's error codes, each with the sentence a chat window can show as-is.
_FRIENDLY = {
    "authentication_error": "I couldn't authenticate with the AI service. Please check the API key.",
    "rate_limit_error": "I'm receiving too many requests right now. Please try again in a moment.",
    "invalid_request_error": "I couldn't understand that request. Please check what was sent.",
    "service_unavailable_error": "The AI service is unavailable right now. Please try again later.",
    "internal_error": "Something went wrong on my side. Please try again.",
}


def error_code(error: ApiError) -> str:
    """Seed 003's error code for `error`."""
    if error.status == 401:
        return "authentication_error"
    if error.status == 429:
        return "rate_limit_error"
    if error.status < 500:
        return "invalid_request_error"
    if error.status in (502, 503, 504):
        return "service_unavailable_error"
    return "internal_error"


def render_ask_error(error: ApiError) -> tuple[dict, int]:
    """Seed 003's shape: `{"role": "assistant", "content", "error", "details"}`."""
    code = error_code(error)
    return {"role": "assistant", "content": _FRIENDLY[code], "error": code, "details": error.message}, error.status


class AskRequest(BaseModel):
    """The conversation so far, ending with the user's new message."""

    model_config = ConfigDict(strict=True)

    messages: list[ChatMessage] = Field(min_length=1, description="The whole conversation, oldest first.")


class AskError(BaseModel):
    """Seed 003's error answer."""

    role: Literal["assistant"]
    content: str
    error: str
    details: str


def _text(upstream: UpstreamStream):
    for event in upstream:
        if content := event.content:
            yield content.encode()


def _error_line(error: ApiError) -> bytes:
    # The headers are gone once text has flowed, so the failure is said in the text itself.
    return f"\n\n[error: {error_code(error)}: {error.message}]".encode()


@bp.post("/ask")
@documented(responses={400: AskError, 401: AskError, 413: AskError, 415: AskError, 429: AskError,
                       502: AskError, 503: AskError, 504: AskError}, streams="text/plain", tags=["Simple backend"])
@json_body(AskRequest)
def ask(body: AskRequest):
    """Stream the assistant's reply to a conversation as plain text."""
    catalogue = chat_client().catalogue
    payload = {"model": catalogue.default, "messages": [turn.model_dump() for turn in body.messages],
               "stream_options": {"include_usage": True}}
    upstream = chat_client().stream(payload, request_upstream_key())
    return streamed_response(relay(upstream, _text(upstream), _error_line), "text/plain",
                             {"x-vercel-ai-data-stream": "v1"})


def init_app(app: Flask) -> None:
    """Register /ask with seed 003's error shape."""
    app.register_blueprint(bp)
    register_shape(app, "/ask", render_ask_error)
    error_schema(app, "/ask", AskError)
