"""The simple backend (Simple backend): the conversation it takes, and its error codes and friendly sentences."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatgate.errors import ApiError, ErrorShape
from chatgate.routes.schemas.core import ChatMessage

# The Simple backend's error codes, each with the sentence a chat window can show as-is.
_FRIENDLY = {
    "authentication_error": "I couldn't authenticate with the AI service. Please check the API key.",
    "rate_limit_error": "I'm receiving too many requests right now. Please try again in a moment.",
    "invalid_request_error": "I couldn't understand that request. Please check what was sent.",
    "service_unavailable_error": "The AI service is unavailable right now. Please try again later.",
    "internal_error": "Something went wrong on my side. Please try again.",
}


def error_code(error: ApiError) -> str:
    """The Simple backend's error code for `error`."""
    if error.status == 401:
        return "authentication_error"
    if error.status == 429:
        return "rate_limit_error"
    if error.status < 500:
        return "invalid_request_error"
    if error.status in (502, 503, 504):
        return "service_unavailable_error"
    return "internal_error"


def render_ask_error(error: ApiError) -> tuple[dict, int]:
    """The Simple backend's shape: `{"role": "assistant", "content", "error", "details"}`."""
    code = error_code(error)
    return {"role": "assistant", "content": _FRIENDLY[code], "error": code, "details": error.message}, error.status


class AskRequest(BaseModel):
    """The conversation so far, ending with the user's new message."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {"role": "user", "content": "Hello!"},
                        {"role": "assistant", "content": "Hi there!"},
                        {"role": "user", "content": "How are you?"},
                    ]
                }
            ]
        },
    )

    messages: list[ChatMessage] = Field(min_length=1, description="The whole conversation, oldest first.")


class AskError(BaseModel):
    """The Simple backend's error answer."""

    role: Literal["assistant"]
    content: str
    error: str
    details: str


ASK_ERROR = ErrorShape(render_ask_error, AskError)


ASK_FRAMES = (
    "Plain text, each piece of the reply as it comes. A failure after the first byte ends the text with "
    "`\\n\\n[error: <code>: <sentence>]` (the codes of the error shape)."
)
