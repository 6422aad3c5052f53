"""One turn of a server-side conversation: find the caller's session, assemble what goes upstream, start the
session only once the reply has started, and keep the exchange once the reply is whole."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chatgate.sessions.owned import OwnedSessions
from chatgate.storage.records import Session


class Turn:
    """A user message in a session, and the reply it gets."""

    def __init__(
        self,
        sessions: OwnedSessions,
        session: Session | None,
        identities: frozenset[str],
        developer_message: str,
        user_message: str,
    ):
        self._sessions = sessions
        self._identities = identities
        self.session = session
        self.developer_message = developer_message
        self.user_message = user_message

    @classmethod
    def begin(
        cls,
        sessions: OwnedSessions,
        session_id: str | None,
        identities: frozenset[str],
        developer_message: str,
        user_message: str,
    ) -> Turn:
        """The turn in the caller's session `session_id`; no id, or one the caller has not got: a new session,
        made by `start` once the reply can begin."""
        return cls(sessions, sessions.get(session_id, identities), identities, developer_message, user_message)

    @property
    def messages(self) -> list[dict]:
        """The conversation to send upstream: this call's developer message, the history, the new message."""
        history = self.session.messages if self.session else []
        return [
            {"role": "system", "content": self.developer_message},
            *history,
            {"role": "user", "content": self.user_message},
        ]

    def start(self) -> Session:
        """The turn's session, made now if it is new: a call that fails before its reply leaves nothing behind."""
        if self.session is None:
            self.session = self._sessions.create(self.developer_message, self._identities)
        return self.session

    def record(self, reply: Iterable[str]) -> Iterator[str]:
        """Pass the reply's pieces on, and store the turn, under this call's developer message, once the reply
        has ended.

        Only a finished reply is stored, with its question, in one atomic append: a reply
        that fails, or whose reader leaves, leaves the session exactly as it was.
        """
        session = self.start()
        pieces = []
        for piece in reply:
            pieces.append(piece)
            yield piece
        self._sessions.store.append_turn(session.session_id, self.user_message, "".join(pieces), self.developer_message)
