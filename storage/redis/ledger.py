"""The usage ledger's sums in Redis, one hash per caller."""

from __future__ import annotations

import redis

from storage.records import Batch


class RedisLedger:
    """Totals in Redis hashes, one per caller, shared by every instance."""

    PREFIX = "usage:"

    def __init__(self, client: redis.Redis):
        self.redis = client

    def add(self, batch: Batch) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for (caller, model), sums in batch.items():
            for field, amount in sums.items():
                pipe.hincrby(self.PREFIX + caller, f"{model}\t{field}", amount)
        pipe.execute()

    def totals(self, caller: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        keys = [self.PREFIX + caller] if caller else list(self.redis.scan_iter(self.PREFIX + "*"))
        result: dict = {}
        for key in keys:
            caller = (key.decode() if isinstance(key, bytes) else key).removeprefix(self.PREFIX)
            for name, value in self.redis.hgetall(key).items():
                model, field = name.decode().split("\t")
                result.setdefault(caller, {}).setdefault(model, {})[field] = int(value)
        return result
