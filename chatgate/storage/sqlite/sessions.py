"""Sessions in a SQLite file (WAL): shared by every worker of one machine, kept across restarts."""

from __future__ import annotations

import sqlite3

from chatgate.storage.records import Session, kept_messages, new_session_id, now
from chatgate.storage.sqlite.database import Database

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY, developer_message TEXT NOT NULL,
        created_at REAL NOT NULL, last_updated REAL NOT NULL, owners TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS session_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
        role TEXT NOT NULL, content TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS session_messages_by_session ON session_messages (session_id, id)",
    "CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (last_updated)",
)


class SQLiteSessionStore:
    """The embedded default: no set-up, correct under every gunicorn worker of one machine."""

    def __init__(self, path: str, ttl_seconds: int, max_messages: int):
        # Files from before sessions had owners gain the column; their sessions belong to nobody.
        self.database = Database(
            path, _SCHEMA, upgrades=("ALTER TABLE sessions ADD COLUMN owners TEXT NOT NULL DEFAULT ''",)
        )
        self.ttl_seconds = ttl_seconds
        self.max_messages = max_messages

    def _purge_expired(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM sessions WHERE last_updated < ?", (now() - self.ttl_seconds,))

    def create(self, developer_message: str, owners: frozenset[str] = frozenset()) -> Session:
        session = Session(new_session_id(), developer_message, [], now(), now(), owners)
        with self.database.write() as db:
            self._purge_expired(db)
            db.execute(
                "INSERT INTO sessions (session_id, developer_message, created_at, last_updated, owners) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    session.session_id,
                    developer_message,
                    session.created_at,
                    session.last_updated,
                    " ".join(sorted(owners)),
                ),
            )
        return session

    def get(self, session_id: str) -> Session | None:
        with self.database.read() as db:
            row = db.execute(
                "SELECT developer_message, created_at, last_updated, owners FROM sessions "
                "WHERE session_id = ? AND last_updated >= ?",
                (session_id, now() - self.ttl_seconds),
            ).fetchone()
            if row is None:
                return None
            messages = [
                {"role": role, "content": content}
                for role, content in db.execute(
                    "SELECT role, content FROM session_messages WHERE session_id = ? ORDER BY id", (session_id,)
                )
            ]
        return Session(session_id, row[0], messages, row[1], row[2], frozenset(row[3].split()))

    def delete(self, session_id: str) -> bool:
        with self.database.write() as db:
            return db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,)).rowcount > 0

    def append_turn(self, session_id: str, user_message: str, reply: str, developer_message: str | None = None) -> bool:
        with self.database.write() as db:
            updated = db.execute(
                "UPDATE sessions SET last_updated = ?, developer_message = "
                "COALESCE(?, developer_message) WHERE session_id = ? AND last_updated >= ?",
                (now(), developer_message, session_id, now() - self.ttl_seconds),
            ).rowcount
            if not updated:
                return False
            db.executemany(
                "INSERT INTO session_messages (session_id, role, content) VALUES (?, ?, ?)",
                [(session_id, "user", user_message), (session_id, "assistant", reply)],
            )
            # Trim the oldest whole turns beyond the cap; the developer message lives apart and stays.
            db.execute(
                "DELETE FROM session_messages WHERE session_id = ? AND id NOT IN "
                "(SELECT id FROM session_messages WHERE session_id = ? ORDER BY id DESC LIMIT ?)",
                (session_id, session_id, kept_messages(self.max_messages)),
            )
        return True

    def active_count(self) -> int:
        with self.database.read() as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM sessions WHERE last_updated >= ?", (now() - self.ttl_seconds,)
                ).fetchone()[0]
            )
