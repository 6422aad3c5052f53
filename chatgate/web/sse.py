"""Server-Sent Events framing: pure functions from payloads to the bytes on the wire."""

from __future__ import annotations

import orjson

DONE = b"data: [DONE]\n\n"


def event(payload: dict) -> bytes:
    """Frame one JSON payload as an SSE `data:` event."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def raw_event(data: bytes) -> bytes:
    """Frame JSON that is already encoded (relayed from the upstream) as an SSE event."""
    return b"data: " + data + b"\n\n"


def named_event(name: str, payload: dict) -> bytes:
    """Frame one JSON payload as an SSE event with an `event:` name."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
