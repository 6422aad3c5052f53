"""The usage ledger's sums in Redis: one hash per caller for the totals, one hash per hour for the buckets."""

from __future__ import annotations

from collections.abc import Callable

import redis

from chatgate.storage.records import Batch, Totals
from chatgate.storage.redis.replies import text
from chatgate.storage.redis.trip import send_or_queue

KEPT_FOR = 400 * 86400  # hourly buckets older than this expire


class RedisLedger:
    """Totals in `usage:<caller>` (`<model>\t<field>`), hours in `usage-hour:<hour>` (`<caller>\t<model>\t<field>`),
    both added to in one transaction per batch."""

    PREFIX = "usage:"
    HOURS = "usage-hour:"

    def __init__(self, client: redis.Redis):
        self.redis = client

    def add(self, batch: Batch, if_lost: Callable[[], None] | None = None) -> None:
        """Add `batch` in one MULTI: with the other writes of the call's end when they travel together, else now."""

        def build(pipe: redis.client.Pipeline) -> None:
            for (caller, model, hour), sums in batch.items():
                for field, amount in sums.items():
                    pipe.hincrby(self.PREFIX + caller, f"{model}\t{field}", amount)
                    pipe.hincrby(f"{self.HOURS}{hour}", f"{caller}\t{model}\t{field}", amount)
                pipe.expire(f"{self.HOURS}{hour}", KEPT_FOR)

        send_or_queue(self.redis, build, f"usage {batch}", if_lost)

    def totals(self, caller: str | None = None) -> Totals:
        keys = [self.PREFIX + caller] if caller else list(self.redis.scan_iter(self.PREFIX + "*"))
        result: Totals = {}
        for key in keys:
            caller = text(key).removeprefix(self.PREFIX)
            for name, value in self.redis.hgetall(key).items():
                model, field = text(name).split("\t")
                result.setdefault(caller, {}).setdefault(model, {})[field] = int(value)
        return result

    def hours(self, since: int, until: int, caller: str | None = None) -> dict[int, Totals]:
        """The hourly sums from hour `since` up to (not including) `until`."""
        hours = range(since - since % 3600, until, 3600)
        pipe = self.redis.pipeline(transaction=False)
        for hour in hours:
            pipe.hgetall(f"{self.HOURS}{hour}")
        result: dict[int, Totals] = {}
        for hour, fields in zip(hours, pipe.execute(), strict=True):
            for name, value in fields.items():
                who, model, field = name.decode().split("\t")
                if caller is None or who == caller:
                    result.setdefault(hour, {}).setdefault(who, {}).setdefault(model, {})[field] = int(value)
        return result
