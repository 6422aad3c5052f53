"""Limit counters on Redis: the `limits` library's Redis storage, with the atomic reservation budgets need."""

from __future__ import annotations

import time

from limits.storage import RedisStorage

# Add to a counter only if it stays within the limit, in one round trip: {granted, count, seconds left}.
_RESERVE = """
local current = tonumber(redis.call("get", KEYS[1]) or "0")
local amount, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if current + amount > limit then
    return {0, current, redis.call("ttl", KEYS[1])}
end
current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {1, current, redis.call("ttl", KEYS[1])}
"""


class BudgetRedisStorage(RedisStorage):
    """The `limits` Redis storage, with the reservation a token budget needs."""

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_reserve = self.get_connection().register_script(_RESERVE)

    def reserve(self, key: str, expiry: int, amount: int, limit: int) -> tuple[bool, int, float]:
        """Add `amount` to the counter only if it stays within `limit`: (granted, the count after, window end)."""
        granted, count, ttl = self.lua_reserve([self.prefixed_key(key)], [expiry, amount, limit])
        return bool(granted), int(count), time.time() + (ttl if ttl > 0 else expiry)
