"""What a session store does, whatever keeps the data."""

from __future__ import annotations

import dataclasses
import datetime
import re
import secrets
import time
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Session:
    """One conversation: its developer message and its turns, oldest first."""

    session_id: str
    developer_message: str
    messages: list[dict]  # {"role": "user" | "assistant", "content": str}
    created_at: float
    last_updated: float
    owners: frozenset[str] = frozenset()  # the caller identities that may see it (see OwnedSessions)

    @staticmethod
    def iso(timestamp: float) -> str:
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


_ID = re.compile(r"^[A-Za-z0-9_-]{24}$")


def new_session_id() -> str:
    """An unguessable id (24 URL-safe characters), and its owner, guard a session's history."""
    return secrets.token_urlsafe(18)


def is_session_id(value: str) -> bool:
    """Whether `value` could be an id `new_session_id` made: nothing else reaches a store."""
    return bool(_ID.match(value))


def now() -> float:
    return time.time()


def kept_messages(max_messages: int) -> int:
    """How many messages a capped history keeps: whole turns only, so never a reply without its question."""
    return max(2, max_messages - max_messages % 2)


class SessionStore(Protocol):
    """Sessions expire after `ttl_seconds` without activity and keep at most `max_messages` turns' messages."""

    ttl_seconds: int
    max_messages: int

    def create(self, developer_message: str, owners: frozenset[str] = frozenset()) -> Session:
        """Start a session that `owners` may see."""

    def get(self, session_id: str) -> Session | None:
        """The session, or None when it does not exist or has expired."""

    def delete(self, session_id: str) -> bool:
        """Remove the session; False when there was none."""

    def append_turn(self, session_id: str, user_message: str, reply: str, developer_message: str | None = None) -> bool:
        """Add a user turn and its reply together, atomically, with the developer message it was asked under
        (None keeps the session's); False when the session is gone."""

    def active_count(self) -> int:
        """How many sessions have not expired."""
