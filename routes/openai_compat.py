"""The OpenAI-compatible surface (seed 004): /v1/chat/completions and /v1/models for OpenAI SDK clients."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, current_app
from pydantic import BaseModel, ConfigDict, Field

from errors import ApiError, NotFound, register_shape
from guard.credentials import request_upstream_key
from upstream.client import UpstreamStream, chat_client
from web import sse
from web.openapi import CATALOGUE_MODEL, documented, error_schema
from web.streaming import relay, streamed_response
from web.validation import JsonInt, json_body, json_int

bp = Blueprint("openai_compat", __name__, url_prefix="/v1")

# A fixed creation time: the catalogue is configuration, it has no real birthday.
CATALOGUE_CREATED = 1_700_000_000


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
    """OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": error.message, "type": error.type, "param": error.param,
                      "code": error.code}}, error.status


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


Penalty = Annotated[float, Field(ge=-2, le=2)]
PositiveInt = json_int(ge=1)


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request. Strict: `"temperature": false` is an error, not 0.

    Parameters this model does not know are forwarded as they are, so new upstream
    features work without a release.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    model: str = Field(json_schema_extra=CATALOGUE_MODEL)
    messages: list[Message] = Field(min_length=1)
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: json_int(ge=1, le=128) | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: JsonInt | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: json_int(ge=0, le=20) | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
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


def _model_object(name: str) -> dict:
    return {"id": name, "object": "model", "created": CATALOGUE_CREATED, "owned_by": "openai-chat-api"}


def _unknown_model(name: str) -> NotFound:
    # Word for word what OpenAI answers, so SDKs raise NotFoundError as they would there.
    return NotFound(f"The model `{name}` does not exist or you do not have access to it.",
                    code="model_not_found", type="invalid_request_error")


def _relayed_events(upstream: UpstreamStream, client_wants_usage: bool):
    for event in upstream:
        # We always ask for usage (the ledger counts it); a client that did not ask
        # must not get the extra usage-only chunk it would not expect.
        if not client_wants_usage and not event.chunk.get("choices") and event.usage:
            continue
        yield sse.raw_event(event.raw)
    yield sse.DONE


def _error_event(error: ApiError) -> bytes:
    return sse.event(render_openai_error(error)[0])


@bp.post("/chat/completions")
@documented(responses={200: dict, **OPENAI_ERRORS}, streams="text/event-stream", tags=["OpenAI-compatible"])
@json_body(ChatCompletionRequest)
def chat_completions(body: ChatCompletionRequest):
    """Create a chat completion in OpenAI's wire format, plain or streamed."""
    if body.model not in chat_client().catalogue:
        raise _unknown_model(body.model)
    # An explicit null means "the default", which is what leaving it out says to every upstream.
    payload = body.model_dump(exclude_unset=True, exclude_none=True)
    key = request_upstream_key()
    if not body.stream:
        return current_app.json.response(chat_client().complete(payload, key))
    client_wants_usage = bool(body.stream_options and body.stream_options.include_usage)
    payload["stream_options"] = {**payload.get("stream_options", {}), "include_usage": True}
    upstream = chat_client().stream(payload, key)
    return streamed_response(relay(upstream, _relayed_events(upstream, client_wants_usage), _error_event),
                             "text/event-stream")


@bp.get("/models")
@documented(responses={200: ModelList, 401: OpenAIErrorResponse}, tags=["OpenAI-compatible"])
def list_models():
    """List the catalogue's models in OpenAI's format."""
    return {"object": "list", "data": [_model_object(name) for name in chat_client().catalogue.names]}


@bp.get("/models/<path:model>")
@documented(responses={200: ModelObject, 401: OpenAIErrorResponse, 404: OpenAIErrorResponse},
            tags=["OpenAI-compatible"])
def retrieve_model(model: str):
    """Describe one model of the catalogue in OpenAI's format."""
    if model not in chat_client().catalogue:
        raise _unknown_model(model)
    return _model_object(model)


def init_app(app: Flask) -> None:
    """Register the /v1 blueprint and OpenAI's error shape for everything under /v1."""
    app.register_blueprint(bp)
    register_shape(app, "/v1", render_openai_error)
    error_schema(app, "/v1", OpenAIErrorResponse)
