"""Who made what, in Redis: one key per claim, expired by Redis itself."""

from __future__ import annotations

import redis

from chatgate.storage.redis.replies import text


class RedisOwnership:
    """`owned:<kind>:<id>` holds the owners, space-separated."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def claim(self, kind: str, item_id: str, identities: frozenset[str], ttl: int) -> None:
        self.redis.set(f"owned:{kind}:{item_id}", " ".join(sorted(identities)), ex=ttl)

    def owners(self, kind: str, item_id: str) -> frozenset[str]:
        return frozenset(text(self.redis.get(f"owned:{kind}:{item_id}") or b"").split())
