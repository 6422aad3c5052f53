"""The sessions surface (seed 002): /api/sessions, /api/chat, /api/test-key, /api/health, in FastAPI's shapes."""

from __future__ import annotations

import datetime

from flask import Blueprint, Flask, g
from pydantic import BaseModel, ConfigDict, Field

from errors import ApiError, BadRequest, InvalidBody, NotFound, Unauthorized, register_shape
from guard.credentials import check_key_format, request_upstream_key
from sessions import Session, session_store
from upstream.client import UpstreamStream, chat_client
from web.openapi import CATALOGUE_MODEL, documented, error_schema
from web.streaming import relay, streamed_response
from web.validation import json_body

bp = Blueprint("sessions_api", __name__, url_prefix="/api")

# FastAPI's words for routing errors, which seed 002's clients have seen.
_FASTAPI_DETAIL = {404: "Not Found", 405: "Method Not Allowed"}
_UPSTREAM_LIMIT_HEADERS = {"X-RateLimit-Limit": "x-ratelimit-limit-requests",
                           "X-RateLimit-Remaining": "x-ratelimit-remaining-requests"}


# Documented, not validated here: a malformed key gets the seed's 400, not a 422.
KEY_SCHEMA = {"pattern": "^[!-~]+$"}


class Detail(BaseModel):
    """FastAPI's error: `{"detail": "<sentence>"}`."""

    detail: str


class ValidationProblem(BaseModel):
    """One problem with the body, as FastAPI lists it."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationDetail(BaseModel):
    """FastAPI's 422: every problem with the body."""

    detail: list[ValidationProblem]


def render_fastapi_error(error: ApiError) -> tuple[dict, int]:
    """FastAPI's shapes: `{"detail": "..."}`, or 422 with the list of problems for an invalid body."""
    if isinstance(error, InvalidBody):
        return {"detail": [{"loc": ["body", *problem["loc"]], "msg": problem["msg"], "type": problem["type"]}
                           for problem in error.errors]}, 422
    if error.code == "json_invalid":
        return {"detail": [{"loc": ["body"], "msg": error.message, "type": "json_invalid"}]}, 422
    return {"detail": _FASTAPI_DETAIL.get(error.status) if error.code in ("not_found", "method_not_allowed")
            else error.message}, error.status


class CreateSessionRequest(BaseModel):
    """A new conversation and its developer (system) message."""

    model_config = ConfigDict(strict=True)

    developer_message: str = "You are a helpful assistant."


class CreatedSession(BaseModel):
    """The new session's id."""

    session_id: str
    message: str
    created_at: str


class SessionInfo(BaseModel):
    """A session's state."""

    session_id: str
    developer_message: str
    message_count: int
    created_at: str
    last_updated: str


class Deleted(BaseModel):
    """The session is gone."""

    message: str


class SessionChatRequest(BaseModel):
    """One user message in a server-side conversation."""

    model_config = ConfigDict(strict=True)

    developer_message: str = Field(description="The system (developer) message for this call.")
    user_message: str = Field(min_length=1, description="The user's new message.")
    model: str | None = Field(default=None, description="A model from GET /models.",
                              json_schema_extra=CATALOGUE_MODEL)
    api_key: str | None = Field(default=None, description="Your own OpenAI key (never stored or logged).",
                                json_schema_extra=KEY_SCHEMA)
    session_id: str | None = Field(default=None, description="Continue this session; a new one if absent.")


class TestKeyRequest(BaseModel):
    """A key to check."""

    model_config = ConfigDict(strict=True)

    api_key: str = Field(json_schema_extra=KEY_SCHEMA)


class KeyCheck(BaseModel):
    """Whether the key works upstream."""

    valid: bool
    message: str


class Health(BaseModel):
    """The surface's health."""

    status: str
    active_sessions: int
    timestamp: str


@bp.post("/sessions")
@documented(responses={200: CreatedSession, 422: ValidationDetail}, tags=["Sessions"])
@json_body(CreateSessionRequest)
def create_session(body: CreateSessionRequest):
    """Create a conversation session."""
    session = session_store().create(body.developer_message)
    return {"session_id": session.session_id, "message": "Session created successfully",
            "created_at": Session.iso(session.created_at)}


def _known_session(session_id: str) -> Session:
    session = session_store().get(session_id)
    if session is None:
        raise NotFound("Session not found", code="session_not_found")
    return session


@bp.get("/sessions/<session_id>")
@documented(responses={200: SessionInfo, 404: Detail}, tags=["Sessions"])
def get_session(session_id: str):
    """Show a session's state."""
    session = _known_session(session_id)
    return {"session_id": session.session_id, "developer_message": session.developer_message,
            "message_count": len(session.messages), "created_at": Session.iso(session.created_at),
            "last_updated": Session.iso(session.last_updated)}


@bp.delete("/sessions/<session_id>")
@documented(responses={200: Deleted, 404: Detail}, tags=["Sessions"])
def delete_session(session_id: str):
    """Delete a session and its history."""
    if not session_store().delete(session_id):
        raise NotFound("Session not found", code="session_not_found")
    return {"message": "Session deleted successfully"}


def _session_for(body: SessionChatRequest) -> Session:
    # No id, or one that does not exist (or expired): a new session, as the seed does.
    if body.session_id and (session := session_store().get(body.session_id)):
        return session
    return session_store().create(body.developer_message)


def _reply_text(upstream: UpstreamStream, session_id: str, user_message: str):
    reply = []
    for event in upstream:
        if content := event.content:
            reply.append(content)
            yield content.encode()
    # Only a finished reply is stored, with its question, in one atomic append: a client
    # that leaves mid-stream leaves the session exactly as it was.
    session_store().append_turn(session_id, user_message, "".join(reply))


def _error_text(error: ApiError) -> bytes:
    return f"\n\n[error: {error.message}]".encode()


@bp.post("/chat")
@documented(responses={400: Detail, 401: Detail, 422: ValidationDetail, 429: Detail, 502: Detail, 503: Detail,
                       504: Detail}, streams="text/plain", tags=["Sessions"])
@json_body(SessionChatRequest)
def chat(body: SessionChatRequest):
    """Chat within a session; the reply streams as plain text."""
    if body.api_key is not None:
        check_key_format(body.api_key)
    catalogue = chat_client().catalogue
    model = body.model or catalogue.default
    if model not in catalogue:
        raise BadRequest(catalogue.unknown_model_message(model), param="model")
    session = _session_for(body)
    messages = [{"role": "system", "content": body.developer_message}, *session.messages,
                {"role": "user", "content": body.user_message}]
    upstream = chat_client().stream({"model": model, "messages": messages, "stream_options": {"include_usage": True}},
                                    request_upstream_key(body_key=body.api_key))
    headers = {"X-Session-ID": session.session_id}
    if "X-RateLimit-Limit" not in g.get("rate_limit_headers", {}):  # our own RATE_LIMIT replaces the upstream's
        headers.update({ours: upstream.headers[theirs] for ours, theirs in _UPSTREAM_LIMIT_HEADERS.items()
                        if theirs in upstream.headers})
    frames = _reply_text(upstream, session.session_id, body.user_message)
    return streamed_response(relay(upstream, frames, _error_text), "text/plain", headers)


@bp.post("/test-key")
@documented(responses={200: KeyCheck, 400: Detail, 422: ValidationDetail}, tags=["Sessions"])
@json_body(TestKeyRequest)
def test_key(body: TestKeyRequest):
    """Check an OpenAI key with a cheap upstream call (listing models), never a completion."""
    try:
        check_key_format(body.api_key)
    except BadRequest:
        raise BadRequest("Invalid API Key format.", param="api_key") from None
    try:
        chat_client().list_models(body.api_key)
    except Unauthorized:
        return {"valid": False, "message": "Authentication failed. Please check your API key."}
    return {"valid": True, "message": "API key is valid."}


@bp.get("/health")
@documented(responses={200: Health}, tags=["Sessions"])
def health():
    """Show the sessions surface's status and its count of active sessions."""
    return {"status": "ok", "active_sessions": session_store().active_count(),
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat()}


def init_app(app: Flask) -> None:
    """Register /api with FastAPI's error shapes."""
    app.register_blueprint(bp)
    register_shape(app, "/api", render_fastapi_error)
    error_schema(app, "/api", Detail)
