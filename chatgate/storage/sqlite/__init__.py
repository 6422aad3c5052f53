"""The SQLite backend: every store in one file (DB_PATH), shared by the workers of one machine."""

from __future__ import annotations

import contextlib
import os

from chatgate.storage.outage import STORAGE_ERRORS
from chatgate.storage.sqlite.counters import SQLiteStorage as SQLiteCounters
from chatgate.storage.sqlite.database import Database, close_all
from chatgate.storage.sqlite.ledger import SQLiteLedger
from chatgate.storage.sqlite.ownership import SQLiteOwnership
from chatgate.storage.sqlite.response_cache import SQLiteResponseCache
from chatgate.storage.sqlite.rests import SQLiteRests
from chatgate.storage.sqlite.rings import SQLiteRings
from chatgate.storage.sqlite.sessions import SQLiteSessionStore
from chatgate.storage.sqlite.streams import SQLiteStreamBuffer
from chatgate.storage.sqlite.tokens import SQLiteTokenStore


class SQLiteBackend:
    """Each store makes its tables on first use; all of them share one small pool of connections per process."""

    kind = "sqlite"

    def __init__(self, path: str):
        self.path = path

    def is_new(self) -> bool:
        """Whether it holds nothing yet: no file (found without making one)."""
        return not os.path.exists(self.path)

    def sessions(self, ttl_seconds: int, max_messages: int) -> SQLiteSessionStore:
        return SQLiteSessionStore(self.path, ttl_seconds, max_messages)

    def stream_buffer(self, retention: float) -> SQLiteStreamBuffer:
        return SQLiteStreamBuffer(self.path, retention)

    def ownership(self) -> SQLiteOwnership:
        return SQLiteOwnership(self.path)

    def ledger(self) -> SQLiteLedger:
        return SQLiteLedger(self.path)

    def tokens(self) -> SQLiteTokenStore:
        return SQLiteTokenStore(self.path)

    def rests(self) -> SQLiteRests:
        return SQLiteRests(self.path)

    def counters(self) -> SQLiteCounters:
        return SQLiteCounters(f"sqlite:///{self.path}")

    def response_cache(self, max_bytes: int) -> SQLiteResponseCache:
        return SQLiteResponseCache(self.path, max_bytes)

    def rings(self) -> SQLiteRings:
        return SQLiteRings(self.path)

    def together(self) -> contextlib.AbstractContextManager[None]:
        """Writes on one machine's file cost no round trip: each goes at once."""
        return contextlib.nullcontext()

    def problem(self) -> str | None:
        """Why the file cannot be used now (None: it takes a write)."""
        try:
            with Database(self.path, ()).write():
                pass
        except STORAGE_ERRORS as error:
            return f"SQLite: {type(error).__name__}: {error}"
        return None

    def close(self) -> None:
        """Close this process's connections (the master, before it forks the workers)."""
        close_all()
