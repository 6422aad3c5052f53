"""The OpenAI-compatible surface (OpenAI-compatible): /v1/chat/completions and /v1/models for OpenAI SDK clients."""

from __future__ import annotations

import re

from flask import Blueprint, current_app

from chatgate.cache import answered, streamed
from chatgate.errors import ApiError
from chatgate.guard.credentials import credentials
from chatgate.guard.rate_limits import spends_key
from chatgate.models import catalogue, offered_model
from chatgate.routes.schemas.openai import (
    CHAT_COMPLETION_FRAMES,
    OPENAI_ERRORS,
    ChatCompletionRequest,
    ModelList,
    ModelObject,
    OpenAIErrorResponse,
    render_openai_error,
)
from chatgate.upstream import EventStream, upstream_client
from chatgate.web import sse
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer
from chatgate.web.validation import json_body

bp = Blueprint("openai_compat", __name__)

# A fixed creation time: the catalogue is configuration, it has no real birthday.
CATALOGUE_CREATED = 1_700_000_000


def _model_object(name: str) -> dict:
    return {"id": name, "object": "model", "created": CATALOGUE_CREATED, "owned_by": "openai-chat-api"}


# The `"usage": null` the upstream adds to every chunk once usage is asked for, however it spaces its JSON.
NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null')


def _relayed_events(upstream: EventStream, client_wants_usage: bool):
    for event in upstream:
        # The upstream is always asked for usage (the ledger counts it); a client that did not ask must get
        # what OpenAI sends it: no usage-only last chunk, and no "usage": null on the others.
        if client_wants_usage:
            yield sse.raw_event(event.raw)
        elif event.chunk.get("choices") or not event.usage:
            yield sse.raw_event(NULL_USAGE.sub(b"", event.raw) if b'"usage"' in event.raw else event.raw)
    yield sse.DONE


def _error_event(error: ApiError) -> bytes:
    return sse.event(render_openai_error(error)[0])


@bp.post("/chat/completions")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS}, streams="text/event-stream", frames=CHAT_COMPLETION_FRAMES)
@json_body(ChatCompletionRequest)
def chat_completions(body: ChatCompletionRequest):
    """Create a chat completion in OpenAI's wire format, plain or streamed."""
    offered_model(body.model, "openai")
    # An explicit null means "the default", which is what leaving it out says to every upstream.
    payload = body.model_dump(exclude_unset=True, exclude_none=True)
    key = credentials().upstream_key()
    client_wants_usage = bool(body.stream_options and body.stream_options.include_usage)
    if not body.stream:
        answer, headers = answered("chat", payload, key, lambda: upstream_client().complete(payload, key))
        return current_app.json.response(answer), headers
    upstream, headers = streamed("chat", payload, key, lambda: upstream_client().stream(payload, key))
    frames = _relayed_events(upstream, client_wants_usage)
    return stream_answer(upstream, frames, _error_event, "text/event-stream", headers)


@bp.get("/models")
@documented(responses={200: ModelList, 401: OpenAIErrorResponse})
def list_models():
    """List the catalogue's models in OpenAI's format: the chat models, then the embedding models."""
    offered = catalogue()
    return {"object": "list", "data": [_model_object(name) for name in (*offered.names, *offered.embedding_names)]}


@bp.get("/models/<path:model>")
@documented(responses={200: ModelObject, 401: OpenAIErrorResponse, 404: OpenAIErrorResponse})
def retrieve_model(model: str):
    """Describe one model of the catalogue (a chat or an embedding model) in OpenAI's format."""
    if model in catalogue().embedding_names:
        return _model_object(model)
    return _model_object(offered_model(model, "openai"))
