"""Redis replies as the stores read them: the client is made without decode_responses, so a value is bytes."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A reply (bytes, or str from a script) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)
