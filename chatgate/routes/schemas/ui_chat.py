"""The AI SDK's `useChat` on POST /api/chat: its request (UI messages with parts) and its UI message stream."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatgate.routes.schemas.sampling import SamplingFields
from chatgate.web.openapi import CATALOGUE_MODEL, EventFrames


class UIPart(BaseModel):
    """One part of a UI message: `text` parts are read, `file` parts with an image media type become images;
    other parts (reasoning, tools, sources, data) are kept by the client and not sent upstream."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None
    mediaType: str | None = None  # noqa: N815 (the AI SDK's name)
    url: str | None = None


class UIMessage(BaseModel):
    """A UI message as `useChat` keeps it."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart]


class UIChatRequest(SamplingFields):
    """What `useChat`'s DefaultChatTransport sends, with what the transport's `body` adds."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "chat-1",
                    "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Hello!"}]}],
                    "trigger": "submit-message",
                }
            ]
        },
    )

    id: str = Field(min_length=1, max_length=200, description="The chat's id, chosen by the client.")
    messages: list[UIMessage] = Field(min_length=1)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = None  # noqa: N815 (the AI SDK's name)
    model: str | None = Field(default=None, description="A model from GET /models.", json_schema_extra=CATALOGUE_MODEL)
    system: str | None = Field(default=None, description="A system prompt, sent first.")


UI_CHAT_FRAMES = EventFrames(
    "The AI SDK's UI message stream (header `x-vercel-ai-ui-message-stream: v1`): `start` with the message id, "
    "`start-step`, `text-start`, a `text-delta` for each piece of the reply, `text-end`, `finish-step`, `finish` "
    "with `messageMetadata` (the model and the usage), then `data: [DONE]`. A failure after the stream started is "
    "one `error` chunk with `errorText`.",
    {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
    done=True,
)
