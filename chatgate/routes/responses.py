"""OpenAI's Responses API on /v1: create (plain or streamed), and the calls on a stored response."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from flask import Blueprint, current_app, request
from werkzeug.routing import BaseConverter

from chatgate.cache import answered, streamed
from chatgate.errors import ApiError, NotFound
from chatgate.guard.credentials import credentials
from chatgate.guard.ownership import ownership
from chatgate.guard.rate_limits import spends_key
from chatgate.models import offered_model
from chatgate.routes.schemas.openai import OPENAI_ERRORS, render_openai_error
from chatgate.routes.schemas.responses import RESPONSE_FRAMES, ResponseRequest
from chatgate.upstream import EventStream, StreamEvent, upstream_client
from chatgate.web import sse
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer
from chatgate.web.validation import json_body

bp = Blueprint("responses", __name__)
Frame = TypeVar("Frame", bytes, str)


class StoredResponseId(BaseConverter):
    """A stored response's id: any path segment but `compact`, the compaction call's own path."""

    regex = r"(?!compact$)[^/]+"


# Before the routes below are added to the app's map, which needs the converter to read them.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("response_id", StoredResponseId))

KEPT_FOR = 30 * 24 * 3600  # as long as OpenAI keeps a stored response


def relayed_events(
    upstream: EventStream,
    seen: dict,
    on_completed: Callable[[dict], None],
    frame: Callable[[StreamEvent], Frame] = lambda event: event.block,  # byte for byte, `event:` lines and all
) -> Iterator[Frame]:
    for event in upstream:
        seen["sequence"] = event.chunk.get("sequence_number", seen["sequence"])
        if event.chunk.get("type") == "response.completed":
            on_completed(event.chunk.get("response") or {})
        yield frame(event)


def _error_event(error: ApiError, seen: dict) -> bytes:
    # The Responses API's own error event, which its SDKs surface as such.
    fields = render_openai_error(error)[0]["error"]
    return sse.named_event(
        "error",
        {
            "type": "error",
            "code": fields["code"],
            "message": fields["message"],
            "param": fields["param"],
            "sequence_number": seen["sequence"] + 1,
        },
    )


@bp.post("/responses")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS}, streams="text/event-stream", frames=RESPONSE_FRAMES)
@json_body(ResponseRequest)
def create_response(body: ResponseRequest):
    """Create a model response with OpenAI's Responses API, plain or streamed."""
    if body.model is not None:  # else a stored prompt names it, and the upstream decides
        offered_model(body.model, "openai")
    payload = body.model_dump(exclude_unset=True, exclude_none=True)
    if body.stream:
        upstream, completed, headers = open_stream(payload)
        return _streamed(upstream, completed, headers)
    key, owners, claims = credentials().upstream_key(), ownership().identities(), ownership()
    _check_references(payload, owners)
    carried = _carried(payload)
    if _uncommitted(payload):  # nothing kept upstream: the same question answered again from the cache
        answer, headers = answered("responses", payload, key, lambda: upstream_client().respond(payload, key, carried))
        return current_app.json.response(answer), headers
    answer = upstream_client().respond(payload, key, carried)
    claims.claim("response", answer.body.get("id"), owners, KEPT_FOR)
    _record_tokens(answer.body)
    return current_app.json.response(answer.body), answer.headers


def open_stream(payload: dict) -> tuple[EventStream, Callable[[dict], None], dict | None]:
    """A streamed response to `payload` (its model already allowed): its events, what to do with the finished
    response, and the cache's headers. POST /v1/responses and WebSocket mode both start theirs here."""
    key, owners, claims = credentials().upstream_key(), ownership().identities(), ownership()
    _check_references(payload, owners)
    carried = _carried(payload)
    if _uncommitted(payload):
        start = lambda: upstream_client().stream_response(payload, key, carried)  # noqa: E731
        upstream, headers = streamed("responses", payload, key, start)
        return upstream, lambda response: None, headers
    upstream = upstream_client().stream_response(payload, key, carried)
    claims.claim("response", (upstream.first.chunk.get("response") or {}).get("id"), owners, KEPT_FOR)
    return upstream, _record_tokens, None


def _uncommitted(payload: dict) -> bool:
    """A response the upstream does not store: nothing to own, and cacheable."""
    return payload.get("store") is False and not payload.get("background")


def _carried(payload: dict) -> int:
    """The tokens a stored response it builds on carries into the call (for the budget's reservation)."""
    previous = payload.get("previous_response_id")
    return ownership().recorded_tokens(previous) if previous else 0


def _record_tokens(response: dict) -> None:
    """Note a finished stored response's tokens: a later call that builds on it reserves them."""
    ownership().record_tokens(response.get("id"), response.get("usage"), KEPT_FOR)


def _streamed(upstream: EventStream, on_completed: Callable[[dict], None], headers: dict | None = None):
    seen = {"sequence": -1}
    frames = relayed_events(upstream, seen, on_completed)
    return stream_answer(upstream, frames, lambda error: _error_event(error, seen), "text/event-stream", headers)


@bp.post("/responses/compact")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
@json_body(ResponseRequest)
def compact_response(body: ResponseRequest):
    """Compact a conversation's context (its input, or a stored response it names) into fewer items."""
    if body.model is not None:
        offered_model(body.model, "openai")
    payload = body.model_dump(exclude_unset=True, exclude_none=True)
    _check_references(payload, ownership().identities())
    previous = payload.get("previous_response_id")
    carried = ownership().recorded_tokens(previous) if previous else 0
    answer = upstream_client().respond(payload, credentials().upstream_key(), carried, path="/responses/compact")
    return current_app.json.response(answer.body), answer.headers


def upstream_query() -> dict[str, str | list[str]]:
    """The request's query as it reaches the upstream: one value as itself (`limit=1`), several, or a key written
    `include[]`, as a list, which the SDK sends as `include[]=...` again."""
    query: dict[str, str | list[str]] = {}
    for key in request.args:
        values = request.args.getlist(key)
        query[key.removesuffix("[]")] = values if key.endswith("[]") or len(values) > 1 else values[0]
    return query


def _owned(response_id: str, param: str = "response_id", owners: frozenset[str] | None = None) -> str:
    if not ownership().owns("response", response_id, owners or ownership().identities()):
        # What OpenAI answers for an id it does not know: another caller's response does not exist here.
        raise NotFound(f"No response found with id '{response_id}'.", code=None, param=param)
    return f"/responses/{response_id}"


def _check_references(payload: dict, owners: frozenset[str]) -> None:
    """Refuse a request that points at what its caller does not own: the upstream would build on it, since
    everything made with the server's key lives in one upstream account."""
    if (previous := payload.get("previous_response_id")) is not None:
        _owned(previous, "previous_response_id", owners)
    if (conversation := payload.get("conversation")) is not None:  # one its caller made here, or none
        named = conversation.get("id") if isinstance(conversation, dict) else conversation
        if not isinstance(named, str) or not ownership().owns("conversation", named, owners):
            raise NotFound(f"No conversation found with id '{named}'.", code=None, param="conversation")
    items = payload.get("input") if isinstance(payload.get("input"), list) else []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "item_reference":
            raise NotFound(
                f"No item found with id '{item.get('id')}': send the item itself, or previous_response_id.",
                code=None,
                param="input",
            )


@bp.get("/responses/<response_id:response_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def retrieve_response(response_id: str):
    """Show a stored response; with `stream=true`, its events (from `starting_after`), as the upstream streams them."""
    path = _owned(response_id)
    if request.args.get("stream", "").lower() == "true":
        events = upstream_client().stored_events(path, credentials().upstream_key(), upstream_query())
        return _streamed(events, lambda response: None)
    return upstream_client().stored("GET", path, credentials().upstream_key(), upstream_query())


@bp.delete("/responses/<response_id:response_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def delete_response(response_id: str):
    """Delete a stored response."""
    return upstream_client().stored("DELETE", _owned(response_id), credentials().upstream_key())


@bp.get("/responses/<response_id:response_id>/input_items")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def list_input_items(response_id: str):
    """List the input items of a stored response."""
    path = _owned(response_id) + "/input_items"
    return upstream_client().stored("GET", path, credentials().upstream_key(), upstream_query())


@bp.post("/responses/<response_id:response_id>/cancel")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def cancel_response(response_id: str):
    """Cancel a response running in the background."""
    return upstream_client().stored("POST", _owned(response_id) + "/cancel", credentials().upstream_key())
