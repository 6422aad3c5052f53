"""The OpenAI-compatible surface (OpenAI-compatible): OpenAI's request, model list and error shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatgate.errors import ApiError, ErrorShape, InvalidBody
from chatgate.routes.schemas.sampling import MaxTokens, SamplingFields
from chatgate.web.openapi import CATALOGUE_MODEL, EventFrames
from chatgate.web.validation import json_int


class OpenAIError(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorResponse(BaseModel):
    """OpenAI's error envelope, as its SDKs parse it."""

    error: OpenAIError


def render_openai_error(error: ApiError) -> tuple[dict, int]:
    """OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`, with OpenAI's code."""
    return {
        "error": {"message": error.message, "type": error.type, "param": error.param, "code": openai_code(error)}
    }, error.status


# The service's generic codes, which OpenAI's API does not have: it sends null for such errors.
_NO_OPENAI_CODE = frozenset({"invalid_request_error", "json_invalid", "not_found", "method_not_allowed"})
_BOUNDS = {
    "less_than": "above_max_value",
    "less_than_equal": "above_max_value",
    "greater_than": "below_min_value",
    "greater_than_equal": "below_min_value",
    "too_long": "above_max_length",
    "too_short": "below_min_length",
}
_KINDS = {"int": "integer", "float": "decimal", "str": "string", "list": "array"}


def openai_code(error: ApiError) -> str | None:
    """The code OpenAI's API gives the same error: a refused body's names its first problem as OpenAI does
    (`missing_required_parameter`, `invalid_type`, `decimal_above_max_value`...), a generic refusal has none, and
    every other code (the service's specific ones, an upstream's, null included) is kept as it is."""
    if isinstance(error, InvalidBody) and error.errors:
        problem = error.errors[0]["type"]
        if problem == "missing":
            return "missing_required_parameter"
        if problem == "extra_forbidden":
            return "unknown_parameter"
        if problem in _BOUNDS and error.input_kind in _KINDS:
            return f"{_KINDS[error.input_kind]}_{_BOUNDS[problem]}"
        return "invalid_type" if problem.endswith(("_type", "_parsing")) else "invalid_value"
    return None if error.code in _NO_OPENAI_CODE else error.code


class Message(BaseModel):
    """One message in OpenAI's format; content parts, tool calls and names pass through."""

    model_config = ConfigDict(strict=True, extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    """Options of a streamed completion."""

    model_config = ConfigDict(strict=True, extra="allow")

    include_usage: bool | None = None


class ChatCompletionRequest(SamplingFields):
    """OpenAI's chat completion request. Strict: `"temperature": false` is an error, not 0.

    Parameters this model does not know are forwarded as they are, so new upstream
    features work without a release.
    """

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "gpt-4o-mini",
                    "temperature": 0.7,
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": "Hello! Provide 3 bullet points why the ocean is important."},
                    ],
                }
            ]
        },
    )

    model: str = Field(json_schema_extra=CATALOGUE_MODEL)
    messages: list[Message] = Field(min_length=1)
    n: json_int(ge=1, le=128) | None = None
    max_completion_tokens: MaxTokens | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: json_int(ge=0, le=20) | None = None
    logit_bias: dict[str, json_int(ge=-100, le=100)] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    reasoning_effort: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None


class ModelObject(BaseModel):
    """One model of the catalogue, as OpenAI lists it."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    """The catalogue in OpenAI's list format."""

    object: Literal["list"]
    data: list[ModelObject]


OPENAI_ERRORS = {status: OpenAIErrorResponse for status in (400, 401, 404, 413, 415, 429, 502, 503, 504)}
OPENAI_ERROR = ErrorShape(render_openai_error, OpenAIErrorResponse)

CHAT_COMPLETION_FRAMES = EventFrames(
    "Server-Sent Events: OpenAI's `chat.completion.chunk` objects, one `data:` event each, relayed byte for byte, "
    "then `data: [DONE]`; with `stream_options.include_usage` the last chunk before it carries `usage`. A failure "
    'after the stream started is one last `data: {"error": {"message", "type", "param", "code"}}`, with no `[DONE]`.',
    {
        "type": "object",
        "anyOf": [
            {"required": ["object", "choices"], "properties": {"object": {"const": "chat.completion.chunk"}}},
            {"required": ["error"], "properties": {"error": {"type": "object", "required": ["message"]}}},
        ],
    },
    done=True,
)
