"""Sessions as their callers see them: each one visible only to the identities that created it."""

from __future__ import annotations

from chatgate.storage.contracts import SessionStore
from chatgate.storage.records import Session, is_session_id


class OwnedSessions:
    """A store seen through the caller's identities; any session they do not own does not exist for them.

    An id that `new_session_id` could not have made never reaches the store, so no crafted
    id can name another key in it.
    """

    def __init__(self, store: SessionStore):
        self.store = store

    def create(self, developer_message: str, identities: frozenset[str]) -> Session:
        return self.store.create(developer_message, identities)

    def get(self, session_id: str | None, identities: frozenset[str]) -> Session | None:
        """The session, if it exists, has not expired, and one of `identities` owns it."""
        if not session_id or not is_session_id(session_id):
            return None
        session = self.store.get(session_id)
        return session if session is not None and session.owners & identities else None

    def delete(self, session_id: str, identities: frozenset[str]) -> bool:
        """Remove a session the caller owns; False when it has none by that id."""
        return self.get(session_id, identities) is not None and self.store.delete(session_id)

    def active_count(self) -> int:
        return self.store.active_count()
