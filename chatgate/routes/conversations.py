"""OpenAI's Conversations API on /v1: a conversation and its items, relayed to the upstream, and owned by the caller
who made it here (anyone else is told it does not exist, as for a stored response)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, request

from chatgate.errors import BadRequest, NotFound
from chatgate.guard.credentials import credentials
from chatgate.guard.ownership import ownership
from chatgate.guard.rate_limits import spends_key
from chatgate.routes.responses import upstream_query
from chatgate.routes.schemas.openai import OPENAI_ERRORS
from chatgate.upstream import upstream_client
from chatgate.web.openapi import documented
from chatgate.web.validation import read_json_object

bp = Blueprint("conversations", __name__)

KEPT_FOR = 365 * 24 * 3600  # a conversation lasts until it is deleted: its claim, a year from its making


def _relay(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return upstream_client().stored(method, path, credentials().upstream_key(), upstream_query(), body)


def _owned(conversation_id: str) -> str:
    if not ownership().owns("conversation", conversation_id, ownership().identities()):
        # What OpenAI answers for an id it does not know: another caller's conversation does not exist here.
        raise NotFound(f"Conversation with id '{conversation_id}' not found.", code=None, param="conversation_id")
    return f"/conversations/{conversation_id}"


def _item(conversation_id: str, item_id: str) -> str:
    """An item's path under its owned conversation. The id is one path segment as it reaches the upstream: never
    `.` or `..`, which a URL would resolve to the conversation itself, and escaped."""
    if item_id in (".", ".."):
        raise NotFound(f"Item with id '{item_id}' not found.", code=None, param="item_id")
    return f"{_owned(conversation_id)}/items/{quote(item_id, safe='')}"


def _object_body(items_required: bool = False) -> dict[str, Any]:
    """The request's JSON object (no body at all is an empty object); its `items`, when required or given, a list
    of objects."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    body = read_json_object() if request.content_length or chunked else {}
    given = body.get("items", None if items_required else [])
    if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
        raise BadRequest("'items' must be a list of items (objects).", param="items")
    return body


@bp.post("/conversations")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def create_conversation():
    """Create a conversation (with its first items, if given): it is its maker's."""
    made = _relay("POST", "/conversations", _object_body())
    ownership().claim("conversation", made.get("id"), ownership().identities(), KEPT_FOR)
    return made


@bp.get("/conversations/<conversation_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def retrieve_conversation(conversation_id: str):
    """Show a conversation."""
    return _relay("GET", _owned(conversation_id))


@bp.post("/conversations/<conversation_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def update_conversation(conversation_id: str):
    """Change a conversation's metadata."""
    return _relay("POST", _owned(conversation_id), _object_body())


@bp.delete("/conversations/<conversation_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def delete_conversation(conversation_id: str):
    """Delete a conversation."""
    return _relay("DELETE", _owned(conversation_id))


@bp.get("/conversations/<conversation_id>/items")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def list_items(conversation_id: str):
    """List a conversation's items (limit, order, after, include as OpenAI takes them)."""
    return _relay("GET", _owned(conversation_id) + "/items")


@bp.post("/conversations/<conversation_id>/items")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def add_items(conversation_id: str):
    """Add items to a conversation."""
    return _relay("POST", _owned(conversation_id) + "/items", _object_body(items_required=True))


@bp.get("/conversations/<conversation_id>/items/<item_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def retrieve_item(conversation_id: str, item_id: str):
    """Show one item of a conversation."""
    return _relay("GET", _item(conversation_id, item_id))


@bp.delete("/conversations/<conversation_id>/items/<item_id>")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
def delete_item(conversation_id: str, item_id: str):
    """Delete one item of a conversation."""
    return _relay("DELETE", _item(conversation_id, item_id))
