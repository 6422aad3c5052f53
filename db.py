"""Storage every worker shares: SQLite files (a connection per thread or greenlet, WAL mode, each user's schema
made on first use rather than at import) and Redis clients that give up within seconds."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time

import redis

_local = threading.local()  # under gevent's patching, one per greenlet

# What storage that is down or unreachable raises: the service answers 503 and recovers by itself.
STORAGE_ERRORS = (sqlite3.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Every wait on Redis has a deadline: a Redis that hangs is a Redis that is down.
REDIS_TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 1.0}


log = logging.getLogger(__name__)


@contextlib.contextmanager
def outage_noted(what: str):
    """For writes after the answer has gone (a stream's usage): storage that is down loses this one write,
    said in one log line with what was lost, instead of breaking the stream."""
    try:
        yield
    except STORAGE_ERRORS as error:
        log.warning("storage unavailable, not recorded: %s (%s: %s)", what, type(error).__name__, error)


def redis_client(url: str, **options) -> redis.Redis:
    """A client for `url` whose every call gives up within seconds, and reconnects by itself afterwards."""
    return redis.Redis.from_url(url, **REDIS_TIMEOUTS, **options)


def storage_problem(sqlite_path: str, redis_url: str | None) -> str | None:
    """Why the configured storage cannot be used now (None: it can): Redis answers PING within a second,
    or the SQLite file takes a write."""
    try:
        if redis_url:
            redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0).ping()
        else:
            db = connect(sqlite_path)
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
    except STORAGE_ERRORS as error:
        return f"{'Redis' if redis_url else 'SQLite'}: {type(error).__name__}: {error}"
    return None


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
