"""SQLite files every worker shares: a small pool of connections per process, WAL mode, each store's schema
made on first use rather than at import, files readable by their owner only."""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator


def _open(path: str) -> sqlite3.Connection:
    """A new connection to `path`, the file made readable by its owner only (conversations live there)."""
    with contextlib.suppress(OSError):  # a missing folder: sqlite3 says so in its own words below
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite gives -wal and -shm the same mode
    # isolation_level=None: we open transactions ourselves, with BEGIN IMMEDIATE where we write.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=30000")
    _switch_to_wal(connection)
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def _switch_to_wal(connection: sqlite3.Connection, deadline_s: float = 30.0) -> None:
    """Put the file in WAL mode. Two processes switching a new file at once: SQLite answers the loser "database
    is locked" at once, without its busy handler, so the switch is tried again until it holds."""
    deadline = time.monotonic() + deadline_s
    pause = 0.005
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(0.2, pause * 2)


class _Pool:
    """This process's idle connections to one file. A connection serves one read or one transaction and comes
    back; at most KEEP_IDLE stay open, so a thousand streams do not mean a thousand page caches."""

    KEEP_IDLE = 4

    def __init__(self, path: str):
        self.path = path
        self.pid = os.getpid()
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _open(self.path)

    def give_back(self, connection: sqlite3.Connection) -> None:
        # One left inside a transaction (its ROLLBACK failed too) would refuse its next user's BEGIN: closed.
        with self._lock:
            if len(self._idle) < self.KEEP_IDLE and not connection.in_transaction:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


_pools: dict[str, _Pool] = {}
_pools_lock = threading.Lock()


def _pool(path: str) -> _Pool:
    """The pool of `path` in this process (a forked worker never shares its parent's connections)."""
    pool = _pools.get(path)
    if pool is None or pool.pid != os.getpid():
        with _pools_lock:
            pool = _pools.get(path)
            if pool is None or pool.pid != os.getpid():
                if not _pools:
                    atexit.register(close_all)
                pool = _pools[path] = _Pool(path)
    return pool


def close_all() -> None:
    """Close every idle connection this process holds (at exit)."""
    for pool in list(_pools.values()):
        if pool.pid == os.getpid():
            pool.close()


class Database:
    """One SQLite file and the tables its owner needs, created by the first connection that asks."""

    def __init__(self, path: str, schema: tuple[str, ...], upgrades: tuple[str, ...] = ()):
        self.path = path
        self._schema = schema
        self._upgrades = upgrades  # ALTER TABLE ... ADD COLUMN, for files an older version made
        self._ready = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection for reads, with the schema in place."""
        pool = _pool(self.path)
        connection = pool.take()
        try:
            if not self._ready:
                self._make_schema(connection)
            yield connection
        finally:
            pool.give_back(connection)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection inside one write transaction (BEGIN IMMEDIATE), committed when the block ends."""
        with self.read() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _make_schema(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if self._ready:
                return
            for statement in self._schema:
                connection.execute(statement)
            for statement in self._upgrades:
                with contextlib.suppress(sqlite3.OperationalError):  # "duplicate column": done before
                    connection.execute(statement)
            self._ready = True
