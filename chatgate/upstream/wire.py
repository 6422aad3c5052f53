"""OpenAI's wire format as the demo model (and the tests' fake upstream) write it: chat completions and their
chunks, Responses API objects and their event sequence, embeddings. Token counts are words, so tests can predict
them."""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

# A frame of a stream: (SSE event name or None, payload, whether it carries a piece of the reply).
Frame = tuple[str | None, object, bool]
Json = dict[str, Any]


def words_of(text: str) -> list[str]:
    parts = text.split(" ")
    return [parts[0]] + [" " + part for part in parts[1:]]


def _count_words(value: object) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(item) for item in value)
    if isinstance(value, dict):
        return _count_words(value.get("content")) + _count_words(value.get("text"))
    return 0


def new_id(prefix: str) -> str:
    return f"{prefix}fake{time.monotonic_ns()}"


# Chat completions.


def chat_usage(body: Json, completion_tokens: int) -> Json:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [] if isinstance(m, dict))
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def chat_completion(body: Json, reply: str, tool_calls: list[Json] | None = None) -> Json:
    message: Json = {"role": "assistant", "content": None if tool_calls else reply, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": chat_usage(body, len(words_of(reply))),
    }


def _chat_chunk(cid: str, model: str, delta: Json, finish: str | None, with_usage: bool) -> Json:
    chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage:
        chunk["usage"] = None
    return chunk


def chat_frames(body: Json, reply: str, tool_calls: list[Json] | None = None) -> list[Frame]:
    cid, model = new_id("chatcmpl-"), body.get("model", "gpt-4o-mini")
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    words = words_of(reply)
    frames: list[Frame] = [
        (None, _chat_chunk(cid, model, {"role": "assistant", "content": ""}, None, with_usage), False)
    ]
    if tool_calls:  # a tool call's name first, then its arguments in pieces, as OpenAI streams them
        for index, call in enumerate(tool_calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            frames.append((None, _chat_chunk(cid, model, {"tool_calls": [head]}, None, with_usage), True))
            arguments = call["function"]["arguments"]
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                frames.append((None, _chat_chunk(cid, model, delta, None, with_usage), True))
    else:
        frames += [(None, _chat_chunk(cid, model, {"content": word}, None, with_usage), True) for word in words]
    finish = "tool_calls" if tool_calls else "stop"
    frames.append((None, _chat_chunk(cid, model, {}, finish, with_usage), False))
    if with_usage:
        final = _chat_chunk(cid, model, {}, None, False)
        final["choices"], final["usage"] = [], chat_usage(body, len(words))
        frames.append((None, final, False))
    frames.append((None, "[DONE]", False))
    return frames


# The Responses API.


def response_usage(body: Json, output_tokens: int) -> Json:
    prompt = _count_words(body.get("input")) + _count_words(body.get("instructions"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output_tokens,
    }


def response_object(
    body: Json, reply: str, status: str = "completed", response_id: str | None = None, item_id: str | None = None
) -> Json:
    done = status == "completed"
    message = {
        "id": item_id or new_id("msg_"),
        "type": "message",
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [{"type": "output_text", "text": reply, "annotations": [], "logprobs": []}] if done else [],
    }
    return {
        "id": response_id or new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": body.get("model", "gpt-4o-mini"),
        "output": [message] if done else [],
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "error": None,
        "incomplete_details": None,
        "metadata": body.get("metadata") or {},
        "store": body.get("store", True),
        "usage": response_usage(body, len(words_of(reply))) if done else None,
    }


def response_frames(body: Json, reply: str) -> list[Frame]:
    """The event sequence of a streamed response, each event with its `sequence_number`."""
    response_id, item_id = new_id("resp_"), new_id("msg_")
    started = response_object(body, reply, "in_progress", response_id, item_id)
    item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    done = response_object(body, reply, "completed", response_id, item_id)
    events: list[tuple[str, Json, bool]] = [
        ("response.created", {"response": started}, False),
        ("response.in_progress", {"response": started}, False),
        ("response.output_item.added", {"output_index": 0, "item": item}, False),
        ("response.content_part.added", {**where, "part": part}, False),
        *(("response.output_text.delta", {**where, "delta": word, "logprobs": []}, True) for word in words_of(reply)),
        ("response.output_text.done", {**where, "text": reply, "logprobs": []}, False),
        ("response.content_part.done", {**where, "part": {**part, "text": reply}}, False),
        ("response.output_item.done", {"output_index": 0, "item": done["output"][0]}, False),
        ("response.completed", {"response": done}, False),
    ]
    return [
        (name, {"type": name, "sequence_number": number, **payload}, content)
        for number, (name, payload, content) in enumerate(events)
    ]


# Embeddings.


def embeddings(body: Json) -> Json:
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)) else list(inputs or [])
    dimensions = min(int(body.get("dimensions") or 8), 65_536)  # a real upstream refuses more; never hang here
    data = []
    for index, text in enumerate(inputs):
        vector = [round(((len(str(text)) + i) % 7) / 7, 4) for i in range(dimensions)]
        encoded = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            if body.get("encoding_format") == "base64"
            else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(t) if isinstance(t, list) else len(str(t).split()) for t in inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
