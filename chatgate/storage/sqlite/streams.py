"""Resumable streams in the SQLite file: a row of state per stream and a row per frame; readers poll."""

from __future__ import annotations

import time

from chatgate.storage.records import RUNNING_FOR
from chatgate.storage.sqlite.database import Database

POLL_SECONDS = 0.05  # how often a SQLite reader looks for new frames while it waits

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS stream_meta (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
           finished INTEGER NOT NULL DEFAULT 0, stop INTEGER NOT NULL DEFAULT 0, touched REAL NOT NULL,
           expires_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS stream_aliases (name TEXT PRIMARY KEY, stream_id TEXT NOT NULL,
           expires_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS stream_frames (id TEXT NOT NULL, seq INTEGER NOT NULL, frame BLOB NOT NULL,
           PRIMARY KEY (id, seq))""",
)


class SQLiteStreamBuffer:
    """Frames and state in two tables; a reader polls every POLL_SECONDS while it waits."""

    def __init__(self, path: str, retention: float):
        self.database = Database(path, _SCHEMA)
        self.retention = retention

    def create(self, stream_id: str, kind: str) -> None:
        now = time.time()
        with self.database.write() as db:
            expired = [row[0] for row in db.execute("SELECT id FROM stream_meta WHERE expires_at < ?", (now,))]
            db.executemany("DELETE FROM stream_frames WHERE id = ?", [(i,) for i in expired])
            db.execute("DELETE FROM stream_meta WHERE expires_at < ?", (now,))
            db.execute(
                "INSERT INTO stream_meta (id, kind, touched, expires_at) VALUES (?, ?, ?, ?)",
                (stream_id, kind, now, now + RUNNING_FOR),
            )

    def append(self, stream_id: str, seq: int, frame: bytes) -> None:
        with self.database.write() as db:
            db.execute("INSERT INTO stream_frames VALUES (?, ?, ?)", (stream_id, seq, frame))

    def finish(self, stream_id: str) -> None:
        with self.database.write() as db:
            db.execute(
                "UPDATE stream_meta SET finished = 1, expires_at = ? WHERE id = ?",
                (time.time() + self.retention, stream_id),
            )

    def read(self, stream_id: str, after: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]:
        deadline = time.monotonic() + wait
        while True:
            with self.database.read() as db:
                finished = db.execute("SELECT finished FROM stream_meta WHERE id = ?", (stream_id,)).fetchone()
                frames = db.execute(
                    "SELECT seq, frame FROM stream_frames WHERE id = ? AND seq > ? ORDER BY seq", (stream_id, after)
                ).fetchall()
            done = finished is None or bool(finished[0])
            if frames or done or time.monotonic() >= deadline:
                return [(seq, bytes(frame)) for seq, frame in frames], done
            time.sleep(POLL_SECONDS)

    def kind_of(self, stream_id: str) -> str | None:
        """`sse` or `text`; None for a stream that does not exist (or no longer)."""
        with self.database.read() as db:
            row = db.execute(
                "SELECT kind FROM stream_meta WHERE id = ? AND expires_at >= ?", (stream_id, time.time())
            ).fetchone()
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

    def alias(self, name: str, stream_id: str, ttl: float) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM stream_aliases WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT OR REPLACE INTO stream_aliases VALUES (?, ?, ?)", (name, stream_id, time.time() + ttl))

    def named(self, name: str) -> str | None:
        with self.database.read() as db:
            row = db.execute(
                "SELECT stream_id FROM stream_aliases WHERE name = ? AND expires_at >= ?", (name, time.time())
            ).fetchone()
        return row[0] if row else None

    def finished(self, stream_id: str) -> bool:
        with self.database.read() as db:
            row = db.execute("SELECT finished FROM stream_meta WHERE id = ?", (stream_id,)).fetchone()
        return row is None or bool(row[0])
