"""Resumable streams in Redis: a Redis Stream of frames beside a hash of state; readers block on the stream."""

from __future__ import annotations

import time
from typing import cast

import redis

from chatgate.storage.records import RUNNING_FOR
from chatgate.storage.redis.replies import text

Entry = tuple[bytes, dict[bytes, bytes]]  # a stream entry: its id and its fields


class RedisStreamBuffer:
    """A Redis Stream of frames (`resumable:<id>:frames`, entry ids `<seq>-0`) beside a hash of state."""

    def __init__(self, client: redis.Redis, retention: float):
        self.redis = client
        self.retention = retention

    @staticmethod
    def _keys(stream_id: str) -> tuple[str, str]:
        return f"resumable:{stream_id}", f"resumable:{stream_id}:frames"

    def create(self, stream_id: str, kind: str) -> None:
        state, _ = self._keys(stream_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(state, mapping={"kind": kind, "finished": 0, "stop": 0, "touched": time.time()})
        pipe.expire(state, RUNNING_FOR)
        pipe.execute()

    def append(self, stream_id: str, seq: int, frame: bytes) -> None:
        _, frames = self._keys(stream_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(frames, {"f": frame}, id=f"{seq}-0")
        pipe.expire(frames, RUNNING_FOR)
        pipe.execute()

    def finish(self, stream_id: str) -> None:
        state, frames = self._keys(stream_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(state, "finished", 1)
        pipe.xadd(frames, {"end": b"1"})  # wakes a reader blocked on the stream
        for key in (state, frames):
            pipe.expire(key, int(self.retention) or 1)
        pipe.execute()

    def read(self, stream_id: str, after: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]:
        state, frames = self._keys(stream_id)
        entries = cast(list[Entry], self.redis.xrange(frames, min=f"({after}-0" if after else "-", max="+"))
        if not entries and not self._finished(state):
            answer = cast(
                list[tuple[bytes, list[Entry]]],
                self.redis.xread({frames: f"{after}-0"}, block=max(1, int(wait * 1000))),
            )
            entries = answer[0][1] if answer else []
        found: list[tuple[int, bytes]] = []
        done = False
        for entry_id, fields in entries:
            if b"end" in fields:
                done = True
            else:
                found.append((int(entry_id.split(b"-")[0]), fields[b"f"]))
        return found, done or (not found and self._finished(state))

    def _finished(self, state: str) -> bool:
        value = self.redis.hget(state, "finished")
        return value is None or value == b"1"

    def kind_of(self, stream_id: str) -> str | None:
        kind = self.redis.hget(self._keys(stream_id)[0], "kind")
        return text(kind) if kind else None

    def stop(self, stream_id: str) -> None:
        self.redis.hset(self._keys(stream_id)[0], "stop", 1)

    def state(self, stream_id: str) -> tuple[bool, float]:
        stop, touched = self.redis.hmget(self._keys(stream_id)[0], "stop", "touched")
        return (stop != b"0", float(touched)) if touched is not None else (True, 0.0)

    def touch(self, stream_id: str) -> None:
        self.redis.hset(self._keys(stream_id)[0], "touched", time.time())

    def alias(self, name: str, stream_id: str, ttl: float) -> None:
        self.redis.set(f"resumable-alias:{name}", stream_id, ex=max(1, int(ttl)))

    def named(self, name: str) -> str | None:
        found = self.redis.get(f"resumable-alias:{name}")
        return text(found) if found else None

    def finished(self, stream_id: str) -> bool:
        return self._finished(self._keys(stream_id)[0])
