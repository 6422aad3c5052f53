"""OpenAI's Responses and Embeddings requests (seed 004's surface, as today's SDKs call it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from web.openapi import CATALOGUE_MODEL
from web.validation import json_int


class ResponseRequest(BaseModel):
    """A Responses API request. Strict on what it names; anything else is forwarded as it is."""

    model_config = ConfigDict(strict=True, extra="allow")

    model: str = Field(json_schema_extra=CATALOGUE_MODEL)
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    max_output_tokens: json_int(ge=1) | None = None
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


class EmbeddingRequest(BaseModel):
    """An embeddings request: one text or many (or their token ids)."""

    model_config = ConfigDict(strict=True, extra="allow")

    model: str
    input: str | list[str] | list[int] | list[list[int]] = Field(description="Text, texts, or token ids.")
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: json_int(ge=1) | None = None
    user: str | None = None
