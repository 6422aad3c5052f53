"""The core surface (Core): chat requests and answers, and `{"error": "<sentence>"}`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatgate.errors import ApiError, ErrorShape
from chatgate.routes.schemas.sampling import SamplingFields
from chatgate.web.openapi import CATALOGUE_MODEL, EventFrames


class CoreError(BaseModel):
    """The core surface's error: one clear sentence."""

    error: str


def render_core_error(error: ApiError) -> tuple[dict, int]:
    """The core surface's shape (Core): `{"error": "<sentence>"}`."""
    return {"error": error.message}, error.status


CORE_ERROR = ErrorShape(render_core_error, CoreError)


class ChatMessage(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class ChatRequest(SamplingFields):
    """A new user message, with the conversation so far."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={"examples": [{"message": "What is the capital of France?", "model": "gpt-4o-mini"}]},
    )

    message: str = Field(description="The user's message (required, not blank).", json_schema_extra={"pattern": r"\S"})
    model: str | None = Field(
        default=None,
        description="A model from GET /models; default: the catalogue's default.",
        json_schema_extra=CATALOGUE_MODEL,
    )
    messages: list[ChatMessage] = Field(default_factory=list, description="Conversation history.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class ServiceInfo(BaseModel):
    """What the service is and how it is set up (no secret, ever)."""

    name: str
    version: str
    default_model: str
    models: list[str]
    upstream: dict
    upstreams: list[dict[str, str]]
    cors: dict
    features: dict[str, bool | str | None]
    theme: dict[str, str]


class Usage(BaseModel):
    """Tokens the call used."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatResponse(BaseModel):
    """The assistant's reply, and the conversation to send back next time."""

    response: str
    model: str
    conversation: list[ChatMessage]
    usage: Usage


CORE_ERRORS = {status: CoreError for status in (400, 401, 403, 413, 415, 429, 502, 503, 504)}
CHAT_STREAM_FRAMES = EventFrames(
    'Server-Sent Events: `data: {"content": "<text>"}` for each piece of the reply, then '
    '`data: {"done": true, "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}`. A failure after the '
    'stream started is one last `data: {"error": "<sentence>"}`, with no `done`.',
    {
        "type": "object",
        "anyOf": [
            {"required": ["content"], "properties": {"content": {"type": "string"}}},
            {"required": ["done", "usage"], "properties": {"done": {"const": True}, "usage": {"type": "object"}}},
            {"required": ["error"], "properties": {"error": {"type": "string"}}},
        ],
    },
)
