"""The sessions surface (Sessions): its requests and answers, in FastAPI's shapes and error words."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chatgate.errors import ApiError, ErrorShape, InvalidBody
from chatgate.routes.schemas.sampling import SamplingFields
from chatgate.web.openapi import CATALOGUE_MODEL

# FastAPI's words for routing errors, which the Sessions API's clients have seen.
_FASTAPI_DETAIL = {404: "Not Found", 405: "Method Not Allowed"}

# Documented, not validated here: a malformed key gets the original Sessions API's 400, not a 422.
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
        return {
            "detail": [
                {"loc": ["body", *problem["loc"]], "msg": problem["msg"], "type": problem["type"]}
                for problem in error.errors
            ]
        }, 422
    if error.code == "json_invalid":
        return {"detail": [{"loc": ["body"], "msg": error.message, "type": "json_invalid"}]}, 422
    return {
        "detail": _FASTAPI_DETAIL.get(error.status)
        if error.code in ("not_found", "method_not_allowed")
        else error.message
    }, error.status


class CreateSessionRequest(BaseModel):
    """A new conversation and its developer (system) message."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [{"developer_message": "You are a helpful coding assistant."}]}
    )

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


class SessionChatRequest(SamplingFields):
    """One user message in a server-side conversation."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "examples": [{"developer_message": "You are a helpful assistant.", "user_message": "Hello, how are you?"}]
        },
    )

    developer_message: str = Field(description="The system (developer) message for this call.")
    user_message: str = Field(min_length=1, description="The user's new message.")
    model: str | None = Field(default=None, description="A model from GET /models.", json_schema_extra=CATALOGUE_MODEL)
    api_key: str | None = Field(
        default=None, description="Your own OpenAI key (never stored or logged).", json_schema_extra=KEY_SCHEMA
    )
    session_id: str | None = Field(default=None, description="Continue this session; a new one if absent.")


class TestKeyRequest(BaseModel):
    """A key to check."""

    model_config = ConfigDict(strict=True, json_schema_extra={"examples": [{"api_key": "$OPENAI_API_KEY"}]})

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


FASTAPI_ERROR = ErrorShape(render_fastapi_error, Detail)


SESSION_CHAT_FRAMES = (
    "Plain text, each piece of the reply as it comes; the session's id is in `X-Session-ID`. A "
    "failure after the first byte ends the text with `\\n\\n[error: <sentence>]`."
)
