"""The key of a cacheable request: what the upstream would be asked, normalized, hashed."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Fields that do not change the answer: how it is delivered, and who it is for.
NOT_IN_KEY = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})


def request_key(kind: str, payload: dict[str, Any]) -> str:
    """`kind` ("chat", "embeddings") and the request as the upstream sees it, whatever the order of its JSON keys
    or how it is delivered: a plain and a streamed request share a key."""
    kept = {field: value for field, value in payload.items() if field not in NOT_IN_KEY}
    digest = hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{kind}:{digest}"
