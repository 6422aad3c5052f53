"""What a session store does, whatever keeps the data (storage/ holds the two that exist)."""

from __future__ import annotations

from typing import Protocol

from chatgate.storage.records import Session


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
