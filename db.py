"""SQLite files shared by every worker of one machine: a connection per thread (or greenlet), WAL mode,
and each user's schema made on first use rather than at import."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

_local = threading.local()  # under gevent's patching, one per greenlet


def connect(path: str) -> sqlite3.Connection:
    """This thread's connection to the database at `path`, opened on first use."""
    connections: dict[str, sqlite3.Connection] = _local.__dict__.setdefault("connections", {})
    connection = connections.get(path)
    if connection is None:
        # isolation_level=None: we open transactions ourselves, with BEGIN IMMEDIATE where we write.
        connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=30000")
        _switch_to_wal(connection)
        connection.execute("PRAGMA synchronous=NORMAL")
        connections[path] = connection
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


class Database:
    """One SQLite file and the tables its owner needs, created by the first connection that asks."""

    def __init__(self, path: str, schema: tuple[str, ...], upgrades: tuple[str, ...] = ()):
        self.path = path
        self._schema = schema
        self._upgrades = upgrades  # ALTER TABLE ... ADD COLUMN, for files an older version made
        self._ready = False
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, with the schema in place."""
        db = connect(self.path)
        if not self._ready:
            with self._lock:
                if not self._ready:
                    for statement in self._schema:
                        db.execute(statement)
                    for statement in self._upgrades:
                        with contextlib.suppress(sqlite3.OperationalError):  # "duplicate column": done before
                            db.execute(statement)
                    self._ready = True
        return db


class transaction:
    """`with transaction(conn):` runs the block in one write transaction (BEGIN IMMEDIATE)."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, exc_type, exc, tb) -> None:
        self._connection.execute("COMMIT" if exc_type is None else "ROLLBACK")
