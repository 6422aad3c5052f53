"""An answer as a stream and back: an entry a plain call stored is replayed as the stream's events (a chat
completion's chunks, a Responses API event sequence), and a streamed answer is gathered into the answer a plain call
would have had."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import orjson


def fresh(kind: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A stored answer, given again: a new id and creation time, as a new answer would have (an embedding has
    neither)."""
    if kind == "chat":
        prefix = str(answer.get("id") or "chatcmpl-").split("-")[0]
        return {**answer, "id": f"{prefix}-{secrets.token_urlsafe(18)}", "created": int(time.time())}
    if kind == "responses":
        return {**answer, "id": f"resp_{secrets.token_hex(24)}", "created_at": int(time.time())}
    return answer


def as_events(kind: str, answer: dict[str, Any]) -> bytes:
    """The SSE stream that says what `answer` says, in its kind's events, usage included."""
    if kind == "responses":
        events = as_response_events(answer)
        return b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e)) for e in events)
    chunks = b"".join(b"data: %s\n\n" % orjson.dumps(chunk) for chunk in as_chunks(answer, with_usage=True))
    return chunks + b"data: [DONE]\n\n"


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


def as_response_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The Responses API's events for a finished `response`, in the order OpenAI sends them: created, each output
    item added, its text (or a function call's arguments) in one delta, each done, then completed."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": [], "usage": None}}
    ]
    for index, item in enumerate(response.get("output") or []):
        where = {"output_index": index, "item_id": item.get("id")}
        events.append({"type": "response.output_item.added", "output_index": index, "item": _opened(item)})
        if item.get("type") == "function_call":
            arguments = item.get("arguments") or ""
            events.append({"type": "response.function_call_arguments.delta", **where, "delta": arguments})
            events.append({"type": "response.function_call_arguments.done", **where, "arguments": arguments})
        for part_index, part in enumerate(item.get("content") or [] if item.get("type") == "message" else []):
            at = {**where, "content_index": part_index}
            events.append({"type": "response.content_part.added", **at, "part": {**part, "text": ""}})
            if part.get("type") == "output_text":
                text = part.get("text") or ""
                events.append({"type": "response.output_text.delta", **at, "delta": text, "logprobs": []})
                events.append({"type": "response.output_text.done", **at, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **at, "part": part})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as it is first announced: in progress, with nothing in it yet."""
    if item.get("type") == "message":
        return {**item, "status": "in_progress", "content": []}
    if item.get("type") == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return item


class CompletedResponse:
    """A streamed Responses API answer: the response its `response.completed` event carries."""

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        if chunk.get("type") == "response.completed" and isinstance(chunk.get("response"), dict):
            self.response = chunk["response"]

    def answer(self) -> dict[str, Any] | None:
        return self.response
