"""The sessions surface (Sessions): /api/sessions, /api/chat, /api/test-key, /api/health, in FastAPI's shapes."""

from __future__ import annotations

import datetime

from flask import Blueprint

from chatgate.config import current_settings
from chatgate.errors import ApiError, BadRequest, NotFound, Unauthorized
from chatgate.guard.credentials import credentials
from chatgate.guard.ownership import ownership
from chatgate.guard.rate_limits import spends_key
from chatgate.models import offered_model
from chatgate.routes.schemas.sampling import SAMPLING_FIELDS
from chatgate.routes.schemas.sessions import (
    SESSION_CHAT_FRAMES,
    CreatedSession,
    CreateSessionRequest,
    Deleted,
    Detail,
    Health,
    KeyCheck,
    SessionChatRequest,
    SessionInfo,
    TestKeyRequest,
    ValidationDetail,
)
from chatgate.routes.schemas.ui_chat import UI_CHAT_FRAMES, UIChatRequest
from chatgate.routes.ui_chat import answer_ui_chat, is_ui_chat
from chatgate.sessions import Session, Turn, owned_sessions
from chatgate.upstream import EventStream, upstream_client
from chatgate.web.openapi import documented
from chatgate.web.streaming import stream_answer
from chatgate.web.validation import json_body, json_body_either

bp = Blueprint("sessions_api", __name__)

_UPSTREAM_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "x-ratelimit-limit-requests",
    "X-RateLimit-Remaining": "x-ratelimit-remaining-requests",
}


def _session_not_found() -> NotFound:
    # The same answer whether the session never existed, expired, or is someone else's.
    return NotFound("Session not found", code="session_not_found")


@bp.post("/sessions")
@documented(responses={200: CreatedSession, 422: ValidationDetail})
@json_body(CreateSessionRequest)
def create_session(body: CreateSessionRequest):
    """Create a conversation session."""
    session = owned_sessions().create(body.developer_message, ownership().identities())
    return {
        "session_id": session.session_id,
        "message": "Session created successfully",
        "created_at": Session.iso(session.created_at),
    }


@bp.get("/sessions/<session_id>")
@documented(responses={200: SessionInfo, 404: Detail})
def get_session(session_id: str):
    """Show a session's state."""
    session = owned_sessions().get(session_id, ownership().identities())
    if session is None:
        raise _session_not_found()
    return {
        "session_id": session.session_id,
        "developer_message": session.developer_message,
        "message_count": len(session.messages),
        "created_at": Session.iso(session.created_at),
        "last_updated": Session.iso(session.last_updated),
    }


@bp.delete("/sessions/<session_id>")
@documented(responses={200: Deleted, 404: Detail})
def delete_session(session_id: str):
    """Delete a session and its history."""
    if not owned_sessions().delete(session_id, ownership().identities()):
        raise _session_not_found()
    return {"message": "Session deleted successfully"}


def _reply_text(upstream: EventStream):
    for event in upstream:
        if content := event.content:
            yield content


def _error_text(error: ApiError) -> bytes:
    return f"\n\n[error: {error.message}]".encode()


@bp.post("/chat")
@spends_key
@documented(
    responses={400: Detail, 401: Detail, 422: ValidationDetail, 429: Detail, 502: Detail, 503: Detail, 504: Detail},
    streams="text/plain",
    frames=SESSION_CHAT_FRAMES,
    also_streams=("text/event-stream", UI_CHAT_FRAMES),
)
@json_body_either(SessionChatRequest, UIChatRequest, is_other=is_ui_chat)
def chat(body: SessionChatRequest | UIChatRequest):
    """Chat within a session (the reply streams as plain text), or answer useChat (the AI SDK's UI message stream).

    A body with `messages` as UI messages (and no `developer_message` or `user_message`) is useChat's.
    """
    if isinstance(body, UIChatRequest):
        return answer_ui_chat(body)
    if body.api_key is not None:
        credentials().check_format(body.api_key)
    model = offered_model(body.model)
    owners = ownership().identities(body.api_key)
    turn = Turn.begin(owned_sessions(), body.session_id, owners, body.developer_message, body.user_message)
    sampling = body.model_dump(include=set(SAMPLING_FIELDS), exclude_none=True)
    upstream = upstream_client().stream(
        {"model": model, "messages": turn.messages, **sampling}, credentials().upstream_key(body_key=body.api_key)
    )
    headers = {"X-Session-ID": turn.start().session_id}
    upstream.in_conversation(headers["X-Session-ID"])
    if not current_settings().rate_limit:  # our own RATE_LIMIT's figures replace the upstream's
        headers.update(
            {
                ours: upstream.headers[theirs]
                for ours, theirs in _UPSTREAM_LIMIT_HEADERS.items()
                if theirs in upstream.headers
            }
        )
    text = (piece.encode() for piece in turn.record(_reply_text(upstream)))
    return stream_answer(upstream, text, _error_text, "text/plain", headers, owners)


@bp.post("/test-key")
@spends_key
@documented(responses={200: KeyCheck, 400: Detail, 422: ValidationDetail})
@json_body(TestKeyRequest)
def test_key(body: TestKeyRequest):
    """Check an OpenAI key with a cheap upstream call (listing models), never a completion."""
    if not current_settings().takes_client_keys:
        # Never an upstream call with a key this server would not use: that would make it an oracle for keys.
        return {
            "valid": False,
            "message": "Client keys are disabled on this server (not accepted by any of its upstreams): it uses "
            "its own key, so there is no key of yours to test.",
        }
    try:
        credentials().check_format(body.api_key)
    except BadRequest:
        raise BadRequest("Invalid API Key format.", param="api_key") from None
    try:
        upstream_client().list_models(body.api_key)
    except Unauthorized:
        return {"valid": False, "message": "Authentication failed. Please check your API key."}
    return {"valid": True, "message": "API key is valid."}


@bp.get("/health")
@documented(responses={200: Health})
def health():
    """Show the sessions surface's status and its count of active sessions."""
    return {
        "status": "ok",
        "active_sessions": owned_sessions().active_count(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
    }
