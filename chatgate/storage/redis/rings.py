"""Rings in Redis: a list per ring (`ring:<name>`), newest first, trimmed to its size as each record is added."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from chatgate.storage.redis.trip import send_or_queue


class RedisRings:
    def __init__(self, client: redis.Redis):
        self.redis = client

    def add(self, ring: str, record: dict[str, Any], size: int) -> None:
        def build(pipe: redis.client.Pipeline) -> None:
            pipe.lpush(f"ring:{ring}", orjson.dumps(record))
            pipe.ltrim(f"ring:{ring}", 0, size - 1)

        send_or_queue(self.redis, build, f"{ring} record {record.get('request_id')}")

    def latest(self, ring: str, count: int) -> list[dict[str, Any]]:
        return [orjson.loads(item) for item in self.redis.lrange(f"ring:{ring}", 0, count - 1)]
