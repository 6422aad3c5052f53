"""Limit counters on Redis: the `limits` library's Redis storage, with the atomic reservation budgets need."""

from __future__ import annotations

import time
from typing import cast

import redis
from limits.storage import RedisStorage

from chatgate.storage.contracts import Counters
from chatgate.storage.redis.trip import send_or_queue

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


# Add to a counter, starting its window if it is new, in one round trip: {count, seconds left}.
_COUNT = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
local ttl = redis.call("ttl", KEYS[1])
if current == tonumber(ARGV[2]) or ttl == -1 then
    redis.call("expire", KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {current, ttl}
"""

# Settle a reservation to what was spent. In the window it was made in (the one whose end is ARGV[4] seconds
# away, to within Redis's whole seconds), give back what was not spent, or take the excess; once that window has
# ended, only an excess is owed, to the new one.
_SETTLE = """
local ttl = redis.call("ttl", KEYS[1])
local change = tonumber(ARGV[3]) - tonumber(ARGV[2])
if not (ttl > 0 and math.abs(ttl - tonumber(ARGV[4])) < 1.5) then
    change = math.max(0, change)
end
if change ~= 0 then
    local current = redis.call("incrby", KEYS[1], change)
    if current == change or redis.call("ttl", KEYS[1]) == -1 then
        redis.call("expire", KEYS[1], ARGV[1])
    end
end
return change
"""


class BudgetRedisStorage(RedisStorage, Counters):
    """The `limits` Redis storage, with the reservation a token budget needs."""

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_reserve = self._client().register_script(_RESERVE)
        self.lua_count = self._client().register_script(_COUNT)

    def _client(self) -> redis.Redis:
        return cast(redis.Redis, self.get_connection())  # limits types it as its own protocol

    def count(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """Add `amount` to a fixed-window counter: (the count after, the window's end), in one round trip."""
        count, ttl = self.lua_count([self.prefixed_key(key)], [expiry, amount])
        return int(count), time.time() + ttl

    def settle(self, key: str, expiry: int, reserved: int, spent: int, window_ends: float, what: str) -> None:
        """Settle a reservation to what was spent: with the other writes of the call's end when they travel
        together (`storage.redis.trip`), else at once."""
        args = (expiry, reserved, spent, window_ends - time.time())
        send_or_queue(self._client(), lambda pipe: pipe.eval(_SETTLE, 1, self.prefixed_key(key), *args), what)

    def reserve(self, key: str, expiry: int, amount: int, limit: int) -> tuple[bool, int, float]:
        """Add `amount` to the counter only if it stays within `limit`: (granted, the count after, window end)."""
        granted, count, ttl = self.lua_reserve([self.prefixed_key(key)], [expiry, amount, limit])
        return bool(granted), int(count), time.time() + (ttl if ttl > 0 else expiry)
