"""Cached answers in Redis: `cached:<key>` holds the time it was stored and the body; Redis expires it."""

from __future__ import annotations

import time

import redis

from chatgate.storage.records import CachedAnswer


class RedisResponseCache:
    def __init__(self, client: redis.Redis):
        self.redis = client

    def get(self, key: str) -> CachedAnswer | None:
        value = self.redis.get(f"cached:{key}")
        if not isinstance(value, bytes):
            return None
        stored_at, _, body = value.partition(b"\n")
        return CachedAnswer(body, float(stored_at))

    def put(self, key: str, body: bytes, ttl: int) -> None:
        self.redis.set(f"cached:{key}", f"{time.time():.3f}\n".encode() + body, ex=ttl)
