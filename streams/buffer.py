"""One resumable stream's frames and state, kept where every worker and instance sees them.

A stream has one producer (the worker that talks to the upstream), which appends frames
numbered from 1 and finally marks the stream finished; any number of readers read the
frames after a number, waiting for new ones; a reader's heartbeat says someone is still
there, and a stop flag asks the producer to end. Everything expires STREAM_RETENTION
seconds after the stream finished.
"""

from __future__ import annotations

import time
from typing import Protocol

from storage.sqlite.database import Database, redis_client

POLL_SECONDS = 0.05  # how often a SQLite reader looks for new frames while it waits

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS stream_meta (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
           finished INTEGER NOT NULL DEFAULT 0, stop INTEGER NOT NULL DEFAULT 0, touched REAL NOT NULL,
           expires_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS stream_frames (id TEXT NOT NULL, seq INTEGER NOT NULL, frame BLOB NOT NULL,
           PRIMARY KEY (id, seq))""",
)
RUNNING_FOR = 24 * 3600  # the most a stream can run; it expires `retention` after it finishes


class StreamBuffer(Protocol):
    def create(self, stream_id: str, kind: str) -> None: ...
    def append(self, stream_id: str, seq: int, frame: bytes) -> None: ...
    def finish(self, stream_id: str) -> None: ...
    def read(self, stream_id: str, after: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]: ...
    def kind_of(self, stream_id: str) -> str | None: ...
    def stop(self, stream_id: str) -> None: ...
    def state(self, stream_id: str) -> tuple[bool, float]: ...
    def touch(self, stream_id: str) -> None: ...


class SQLiteStreamBuffer:
    def __init__(self, path: str, retention: float):
        self.database = Database(path, _SCHEMA)
        self.retention = retention

    def create(self, stream_id: str, kind: str) -> None:
        now = time.time()
        with self.database.write() as db:
            expired = [row[0] for row in db.execute("SELECT id FROM stream_meta WHERE expires_at < ?", (now,))]
            db.executemany("DELETE FROM stream_frames WHERE id = ?", [(i,) for i in expired])
            db.execute("DELETE FROM stream_meta WHERE expires_at < ?", (now,))
            db.execute("INSERT INTO stream_meta (id, kind, touched, expires_at) VALUES (?, ?, ?, ?)",
                       (stream_id, kind, now, now + RUNNING_FOR))

    def append(self, stream_id: str, seq: int, frame: bytes) -> None:
        with self.database.write() as db:
            db.execute("INSERT INTO stream_frames VALUES (?, ?, ?)", (stream_id, seq, frame))

    def finish(self, stream_id: str) -> None:
        with self.database.write() as db:
            db.execute("UPDATE stream_meta SET finished = 1, expires_at = ? WHERE id = ?",
                       (time.time() + self.retention, stream_id))

    def read(self, stream_id: str, after: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]:
        deadline = time.monotonic() + wait
        while True:
            with self.database.read() as db:
                finished = db.execute("SELECT finished FROM stream_meta WHERE id = ?", (stream_id,)).fetchone()
                frames = db.execute("SELECT seq, frame FROM stream_frames WHERE id = ? AND seq > ? ORDER BY seq",
                                    (stream_id, after)).fetchall()
            done = finished is None or bool(finished[0])
            if frames or done or time.monotonic() >= deadline:
                return [(seq, bytes(frame)) for seq, frame in frames], done
            time.sleep(POLL_SECONDS)

    def kind_of(self, stream_id: str) -> str | None:
        """`sse` or `text`; None for a stream that does not exist (or no longer)."""
        with self.database.read() as db:
            row = db.execute("SELECT kind FROM stream_meta WHERE id = ? AND expires_at >= ?",
                             (stream_id, time.time())).fetchone()
        return row[0] if row else None

    def stop(self, stream_id: str) -> None:
        with self.database.write() as db:
            db.execute("UPDATE stream_meta SET stop = 1 WHERE id = ?", (stream_id,))

    def state(self, stream_id: str) -> tuple[bool, float]:
        """(whether a stop was asked for, when a reader was last there)."""
        with self.database.read() as db:
            row = db.execute("SELECT stop, touched FROM stream_meta WHERE id = ?", (stream_id,)).fetchone()
        return (bool(row[0]), row[1]) if row else (True, 0.0)

    def touch(self, stream_id: str) -> None:
        with self.database.write() as db:
            db.execute("UPDATE stream_meta SET touched = ? WHERE id = ?", (time.time(), stream_id))


class RedisStreamBuffer:
    """A Redis Stream of frames (`resumable:<id>:frames`, entry ids `<seq>-0`) beside a hash of state."""

    def __init__(self, url: str, retention: float):
        self.redis = redis_client(url)
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
        entries = self.redis.xrange(frames, min=f"({after}-0" if after else "-", max="+")
        if not entries and not self._finished(state):
            answer = self.redis.xread({frames: f"{after}-0"}, block=max(1, int(wait * 1000)))
            entries = answer[0][1] if answer else []
        found, done = [], False
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
        return kind.decode() if kind else None

    def stop(self, stream_id: str) -> None:
        self.redis.hset(self._keys(stream_id)[0], "stop", 1)

    def state(self, stream_id: str) -> tuple[bool, float]:
        stop, touched = self.redis.hmget(self._keys(stream_id)[0], "stop", "touched")
        return (stop != b"0", float(touched)) if touched is not None else (True, 0.0)

    def touch(self, stream_id: str) -> None:
        self.redis.hset(self._keys(stream_id)[0], "touched", time.time())
