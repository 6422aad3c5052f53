"""The Redis backend: every store on one client with one connection pool, shared by every instance."""

from __future__ import annotations

import contextlib

import redis

from chatgate.storage.outage import STORAGE_ERRORS
from chatgate.storage.redis.counters import BudgetRedisStorage
from chatgate.storage.redis.ledger import RedisLedger
from chatgate.storage.redis.ownership import RedisOwnership
from chatgate.storage.redis.response_cache import RedisResponseCache
from chatgate.storage.redis.rests import RedisRests
from chatgate.storage.redis.rings import RedisRings
from chatgate.storage.redis.sessions import RedisSessionStore
from chatgate.storage.redis.streams import RedisStreamBuffer
from chatgate.storage.redis.tokens import RedisTokenStore
from chatgate.storage.redis.trip import one_trip

# Every wait on Redis has a deadline: a Redis that hangs is a Redis that is down. The pool reconnects by itself.
REDIS_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 1.0}


class RedisBackend:
    """The stores take the one client; no connection is opened before the first command."""

    kind = "redis"

    def __init__(self, url: str):
        self.url = url
        self.pool = redis.ConnectionPool.from_url(url, **REDIS_TIMEOUTS)
        self.client = redis.Redis(connection_pool=self.pool)

    def is_new(self) -> bool:
        """A server is never known to be new without asking it."""
        return False

    def sessions(self, ttl_seconds: int, max_messages: int) -> RedisSessionStore:
        return RedisSessionStore(self.client, ttl_seconds, max_messages)

    def stream_buffer(self, retention: float) -> RedisStreamBuffer:
        return RedisStreamBuffer(self.client, retention)

    def ownership(self) -> RedisOwnership:
        return RedisOwnership(self.client)

    def ledger(self) -> RedisLedger:
        return RedisLedger(self.client)

    def tokens(self) -> RedisTokenStore:
        return RedisTokenStore(self.client)

    def rests(self) -> RedisRests:
        return RedisRests(self.client)

    def counters(self) -> BudgetRedisStorage:
        return BudgetRedisStorage(self.url, connection_pool=self.pool)

    def response_cache(self, max_bytes: int) -> RedisResponseCache:
        return RedisResponseCache(self.client)  # Redis expires entries by their TTL; max_bytes is SQLite's

    def rings(self) -> RedisRings:
        return RedisRings(self.client)

    def together(self) -> contextlib.AbstractContextManager[None]:
        """A block whose writes (a call's settlements and usage) go to Redis together, in one round trip."""
        return one_trip(self.client)

    def problem(self) -> str | None:
        """Why Redis cannot be used now (None: it answers PING within its deadline)."""
        try:
            self.client.ping()
        except STORAGE_ERRORS as error:
            return f"Redis: {type(error).__name__}: {error}"
        return None

    def close(self) -> None:
        """Close this process's connections (the master, before it forks the workers)."""
        self.pool.disconnect()
