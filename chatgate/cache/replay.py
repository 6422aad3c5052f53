"""A chat completion as a stream and back: an entry a plain call stored is replayed as SSE chunks, and a streamed
answer is gathered into the chat completion a plain call would have had."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any


def fresh(answer: dict[str, Any]) -> dict[str, Any]:
    """A stored answer, given again: a new id and creation time, as a new answer would have."""
    prefix = str(answer.get("id") or "chatcmpl-").split("-")[0]
    return {**answer, "id": f"{prefix}-{secrets.token_urlsafe(18)}", "created": int(time.time())}


def as_chunks(answer: dict[str, Any], with_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunks of a stream that says what `answer` says: each choice's message, its finish, then the usage."""
    base = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"]}
    base["model"] = answer.get("model")
    for choice in answer.get("choices") or []:
        message = choice.get("message") or {}
        delta = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": delta, "finish_reason": None}]}
        finish = choice.get("finish_reason") or "stop"
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": {}, "finish_reason": finish}]}
    if with_usage and answer.get("usage"):
        yield {**base, "choices": [], "usage": answer["usage"]}


class Gathered:
    """A streamed chat completion gathered chunk by chunk into the answer a plain call would have had."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.texts: dict[int, list[str]] = {}
        self.finishes: dict[int, str] = {}
        self.usage: dict[str, Any] | None = None
        self.whole = True  # False once a chunk says more than text (tool calls, refusals): not stored

    def add(self, chunk: dict[str, Any]) -> None:
        self.head = self.head or {key: chunk.get(key) for key in ("id", "created", "model", "system_fingerprint")}
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            index, delta = choice.get("index", 0), choice.get("delta") or {}
            if set(delta) - {"role", "content"}:
                self.whole = False
            self.texts.setdefault(index, []).append(delta.get("content") or "")
            if choice.get("finish_reason"):
                self.finishes[index] = choice["finish_reason"]

    def answer(self) -> dict[str, Any] | None:
        """The chat completion, when every choice finished and it said only text (None otherwise)."""
        if not self.whole or not self.texts or set(self.finishes) != set(self.texts):
            return None
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": "".join(texts)},
                "finish_reason": self.finishes[index],
            }
            for index, texts in sorted(self.texts.items())
        ]
        return {**self.head, "object": "chat.completion", "choices": choices, "usage": self.usage}
