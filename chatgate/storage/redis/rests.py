"""Upstreams at rest, in Redis: one hash for every instance, upstream name -> "<until> <failures>"."""

from __future__ import annotations

import redis

from chatgate.storage.redis.replies import text


class RedisRests:
    """The hash `upstream-rests`; a success writes its upstream back to no rest and no failures."""

    KEY = "upstream-rests"

    def __init__(self, client: redis.Redis):
        self.redis = client

    def rest(self, name: str, until: float, failures: int) -> None:
        self.redis.hset(self.KEY, name, f"{until} {failures}")

    def states(self) -> dict[str, tuple[float, int]]:
        states = {}
        for name, value in self.redis.hgetall(self.KEY).items():
            until, failures = text(value).split()
            states[text(name)] = (float(until), int(failures))
        return states
