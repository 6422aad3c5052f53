"""One turn of a server-side conversation: find or start the session, assemble what goes upstream, and keep
the exchange once the reply is whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sessions.store import Session, SessionStore


class Turn:
    """A user message in a session, and the reply it gets."""

    def __init__(self, store: SessionStore, session: Session, developer_message: str, user_message: str):
        self._store = store
        self.session = session
        self.developer_message = developer_message
        self.user_message = user_message

    @classmethod
    def begin(cls, store: SessionStore, session_id: str | None, developer_message: str, user_message: str) -> "Turn":
        """The turn in session `session_id`; no id, or one that does not exist (or expired): a new session."""
        session = (store.get(session_id) if session_id else None) or store.create(developer_message)
        return cls(store, session, developer_message, user_message)

    @property
    def messages(self) -> list[dict]:
        """The conversation to send upstream: this call's developer message, the history, the new message."""
        return [{"role": "system", "content": self.developer_message}, *self.session.messages,
                {"role": "user", "content": self.user_message}]

    def record(self, reply: Iterable[str]) -> Iterator[str]:
        """Pass the reply's pieces on, and store the turn once the reply has ended.

        Only a finished reply is stored, with its question, in one atomic append: a reply
        that fails, or whose reader leaves, leaves the session exactly as it was.
        """
        pieces = []
        for piece in reply:
            pieces.append(piece)
            yield piece
        self._store.append_turn(self.session.session_id, self.user_message, "".join(pieces))
