"""Stored service tokens in Redis: one hash, token name -> its record as JSON (a digest, never the token)."""

from __future__ import annotations

import redis

from chatgate.storage.records import StoredToken
from chatgate.storage.redis.replies import text


class RedisTokenStore:
    KEY = "api-tokens"

    def __init__(self, client: redis.Redis):
        self.redis = client

    def add(self, stored: StoredToken) -> bool:
        return bool(self.redis.hsetnx(self.KEY, stored.name, stored.record()))

    def all(self) -> list[StoredToken]:
        return [StoredToken.from_record(text(record)) for _, record in sorted(self.redis.hgetall(self.KEY).items())]

    def replace(self, stored: StoredToken) -> None:
        self.redis.hset(self.KEY, stored.name, stored.record())

    def remove(self, names: list[str]) -> None:
        if names:
            self.redis.hdel(self.KEY, *names)
