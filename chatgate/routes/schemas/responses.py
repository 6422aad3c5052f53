"""OpenAI's Responses and Embeddings requests (the OpenAI-compatible surface, as today's SDKs call it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chatgate.routes.schemas.sampling import MaxTokens
from chatgate.web.openapi import CATALOGUE_MODEL, EventFrames
from chatgate.web.validation import INT64, json_int


class ResponseRequest(BaseModel):
    """A Responses API request. Strict on what it names; anything else is forwarded as it is."""

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        json_schema_extra={
            "examples": [{"model": "gpt-4.1-mini", "input": "Say hello in French.", "store": True}],
            # A model, or a stored prompt template that names one.
            "anyOf": [
                {"required": ["model"], "properties": {"model": {"type": "string"}}},
                {"required": ["prompt"], "properties": {"prompt": {"type": "object"}}},
            ],
        },
    )

    model: str | None = Field(None, json_schema_extra=CATALOGUE_MODEL, description="Optional with a `prompt`")
    prompt: dict[str, Any] | None = Field(None, description="A stored prompt template, which may name the model")
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    max_output_tokens: MaxTokens | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    stream: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    metadata: dict[str, str] | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    include: list[str] | None = None
    truncation: str | None = None
    user: str | None = None

    @model_validator(mode="after")
    def names_a_model(self) -> ResponseRequest:
        """A model, or a prompt template that carries one (as OpenAI's own API allows)."""
        if self.model is None and self.prompt is None:
            raise ValueError("'model' is required, unless a 'prompt' template names it")
        return self


MOST_DIMENSIONS = 65_536


TokenId = json_int(ge=0)


class EmbeddingRequest(BaseModel):
    """An embeddings request: one text or many (or their token ids)."""

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        json_schema_extra={"examples": [{"model": "text-embedding-3-small", "input": ["first text", "second text"]}]},
    )

    model: str
    input: str | list[str] | list[TokenId] | list[list[TokenId]] = Field(description="Text, texts, or token ids.")
    encoding_format: Literal["float", "base64"] | None = None
    # Far above any embedding model's size (3,072 for OpenAI's largest), and a clear 400 beyond.
    dimensions: json_int(ge=1, le=MOST_DIMENSIONS) | None = None
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def token_ids_are_token_ids(cls, value: object) -> object:
        """A token id out of range is named as such (the union of input forms would say "not a valid string")."""
        for item in value if isinstance(value, list) else ():
            for token in item if isinstance(item, list) else (item,):
                # A number past 64 bits is read as a float: it is no token id either.
                if isinstance(token, int | float) and not isinstance(token, bool) and not 0 <= token <= INT64[1]:
                    raise ValueError(f"{token:.0f} is not a token id: token ids are whole numbers from 0 to 2^63 - 1")
        return value


RESPONSE_FRAMES = EventFrames(
    "Server-Sent Events of the Responses API, relayed byte for byte: `event: <type>` and `data: {...}` for each of "
    "`response.created`, `response.in_progress`, `response.output_item.added`, `response.content_part.added`, "
    "`response.output_text.delta` (one per piece of text, in `delta`), `response.output_text.done`, "
    "`response.content_part.done`, `response.output_item.done` and `response.completed` (with `usage`). A failure "
    'after the stream started is `event: error` with `{"type": "error", "code", "message", "param", '
    '"sequence_number"}`.',
    {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
)
