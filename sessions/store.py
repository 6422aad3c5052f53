"""What a session store does, whatever keeps the data."""

from __future__ import annotations

import dataclasses
import datetime
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

    @staticmethod
    def iso(timestamp: float) -> str:
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


def new_session_id() -> str:
    """An unguessable id: a session's id is all that guards its history."""
    return secrets.token_urlsafe(18)


def now() -> float:
    return time.time()


def kept_messages(max_messages: int) -> int:
    """How many messages a capped history keeps: whole turns only, so never a reply without its question."""
    return max(2, max_messages - max_messages % 2)


class SessionStore(Protocol):
    """Sessions expire after `ttl_seconds` without activity and keep at most `max_messages` turns' messages."""

    ttl_seconds: int
    max_messages: int

    def create(self, developer_message: str) -> Session:
        """Start a session."""

    def get(self, session_id: str) -> Session | None:
        """The session, or None when it does not exist or has expired."""

    def delete(self, session_id: str) -> bool:
        """Remove the session; False when there was none."""

    def append_turn(self, session_id: str, user_message: str, reply: str) -> bool:
        """Add a user turn and its reply together, atomically; False when the session is gone."""

    def active_count(self) -> int:
        """How many sessions have not expired."""
