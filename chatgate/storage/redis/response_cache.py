"""Cached answers in Redis: `cached:<key>` holds the time it was stored and the body, and Redis expires it;
`cached-flight:<key>` counts the identical requests in flight."""

from __future__ import annotations

import time

import redis

from chatgate.storage.records import CachedAnswer
from chatgate.storage.redis.trip import send_or_queue

# The entry, or else one more in the flight: one round trip either way.
_JOIN = """
local entry = redis.call('GET', KEYS[1])
if entry then return {entry, 0} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {'', count}
"""


class RedisResponseCache:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self.lua_join = client.register_script(_JOIN)

    def join(self, key: str, flight_ttl: int) -> tuple[CachedAnswer | None, int]:
        entry, count = self.lua_join([f"cached:{key}", f"cached-flight:{key}"], [flight_ttl])
        return _answer(entry), int(count)

    def look(self, key: str) -> tuple[CachedAnswer | None, int]:
        entry, count = self.redis.mget([f"cached:{key}", f"cached-flight:{key}"])
        return _answer(entry), int(count or 0)

    def land(self, key: str, body: bytes | None, ttl: int, leads: bool) -> None:
        def build(pipe: redis.client.Pipeline) -> None:
            if body is not None:
                pipe.set(f"cached:{key}", f"{time.time():.3f}\n".encode() + body, ex=ttl)
            if leads:
                pipe.delete(f"cached-flight:{key}")

        if body is not None or leads:
            send_or_queue(self.redis, build, f"cache entry {key}")


def _answer(entry: object) -> CachedAnswer | None:
    if not isinstance(entry, bytes) or not entry:
        return None
    stored_at, _, body = entry.partition(b"\n")
    return CachedAnswer(body, float(stored_at))
