"""The one SSE decoder of the tests: our streams' bodies, checked frame by frame."""

from __future__ import annotations

import json


def sse_payloads(body: bytes) -> list[bytes]:
    """The data of each frame, checking every frame is exactly `data: <payload>` and a blank line."""
    frames = body.split(b"\n\n")
    assert frames[-1] == b"", "the stream must end with a complete frame"
    for frame in frames[:-1]:
        assert frame.startswith(b"data: ") and b"\n" not in frame, frame
    return [frame.removeprefix(b"data: ") for frame in frames[:-1]]


def sse_json(body: bytes) -> list[dict]:
    """Each frame's payload, decoded: for streams whose every frame is JSON."""
    return [json.loads(payload) for payload in sse_payloads(body)]


def sse_headed(body: bytes, field: bytes) -> list[tuple[str, dict]]:
    """Frames of two lines, `<field>: <value>` then `data: <json>` (a resumable stream's `id:`, a Responses
    API `event:`), as (value, payload), checking the framing as `sse_payloads` does."""
    frames = body.split(b"\n\n")
    assert frames[-1] == b"", "the stream must end with a complete frame"
    headed = []
    for frame in frames[:-1]:
        head, data = frame.split(b"\n")
        assert head.startswith(field + b": ") and data.startswith(b"data: "), frame
        headed.append((head[len(field) + 2 :].decode(), json.loads(data.removeprefix(b"data: "))))
    return headed


def sse_numbered(body: bytes) -> list[tuple[int, dict]]:
    """A resumable stream's events as (id, payload)."""
    return [(int(number), payload) for number, payload in sse_headed(body, b"id")]
