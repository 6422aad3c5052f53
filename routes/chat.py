"""The core chat endpoints: POST /chat and POST /chat/stream (seed 000)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, field_validator

from errors import ApiError, BadRequest
from guard.credentials import request_upstream_key
from upstream.client import UpstreamStream, chat_client
from web import sse
from web.openapi import CATALOGUE_MODEL
from web.streaming import relay, streamed_response
from web.validation import json_body

bp = Blueprint("chat", __name__)


class ChatMessage(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """A new user message, with the conversation so far."""

    model_config = ConfigDict(strict=True)

    message: str = Field(description="The user's message (required, not blank).",
                         json_schema_extra={"pattern": r"\S"})
    model: str | None = Field(default=None, description="A model from GET /models; default: the catalogue's default.",
                              json_schema_extra=CATALOGUE_MODEL)
    messages: list[ChatMessage] = Field(default_factory=list, description="Conversation history.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


def upstream_payload(body: ChatRequest) -> dict:
    """The chat completion request for `body`, on a model from the catalogue."""
    catalogue = chat_client().catalogue
    model = body.model or catalogue.default
    if model not in catalogue:
        raise BadRequest(catalogue.unknown_model_message(model), param="model")
    history = [turn.model_dump() for turn in body.messages]
    return {"model": model, "messages": history + [{"role": "user", "content": body.message}]}


def _usage(usage: dict | None) -> dict:
    usage = usage or {}
    return {key: usage.get(key, 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}


@bp.post("/chat")
@json_body(ChatRequest)
def chat(body: ChatRequest):
    """Create chat completion."""
    payload = upstream_payload(body)
    answer = chat_client().complete(payload, request_upstream_key())
    try:
        reply = answer["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ApiError("The upstream's answer had no reply in it.", status=502, code="upstream_error") from None
    return {
        "response": reply,
        "model": answer.get("model") or payload["model"],
        "conversation": payload["messages"] + [{"role": "assistant", "content": reply}],
        "usage": _usage(answer.get("usage")),
    }


def _content_frames(upstream: UpstreamStream):
    for event in upstream:
        if content := event.content:
            yield sse.event({"content": content})
    yield sse.event({"done": True, "usage": _usage(upstream.usage)})


@bp.post("/chat/stream")
@json_body(ChatRequest)
def chat_stream(body: ChatRequest):
    """Create streaming chat completion."""
    payload = upstream_payload(body)
    payload["stream_options"] = {"include_usage": True}
    upstream = chat_client().stream(payload, request_upstream_key())
    frames = relay(upstream, _content_frames(upstream), lambda error: sse.event({"error": error.message}))
    return streamed_response(frames, "text/event-stream")
