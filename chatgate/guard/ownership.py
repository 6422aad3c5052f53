"""Who owns what: a session, a resumable stream or what the upstream keeps for later (a stored response) is seen
only by the caller that made it.

Everything made through the server's key lives in one upstream account, so the upstream alone
would show any caller's stored response to any other who learned its id.
"""

from __future__ import annotations

import hashlib
from typing import cast

from flask import Flask, current_app

from chatgate.guard.access import TokenRegistry, current_caller
from chatgate.guard.credentials import Credentials
from chatgate.storage.contracts import OwnershipStore
from chatgate.upstream.hooks import bounded_count

_KEY = "ownership"


class Ownership:
    """Who the caller is as an owner, and claims on ids, kept where every worker (and, on Redis, every instance)
    sees them."""

    def __init__(self, store: OwnershipStore, tokens: TokenRegistry, keys: Credentials):
        self.store = store
        self.tokens, self.keys = tokens, keys

    def identities(self, body_key: str | None = None) -> frozenset[str]:
        """Who the caller is, for owning things (a session, a stream, a stored response): its service token when
        access control is on; otherwise its address, and the hash of its own key when it sends one."""
        caller = current_caller()
        if self.tokens.access_control():
            return frozenset({caller})
        key = self.keys.client_key(body_key)
        return frozenset({caller, key_identity(key)} if key else {caller})

    def claim(self, kind: str, item_id: object, identities: frozenset[str], ttl: int) -> None:
        if isinstance(item_id, str) and item_id:
            self.store.claim(kind, item_id, identities, ttl)

    def owns(self, kind: str, item_id: str, identities: frozenset[str]) -> bool:
        return bool(self.store.owners(kind, item_id) & identities)

    def record_tokens(self, response_id: object, usage: object, ttl: int) -> None:
        """Note what a stored response holds (its input and output tokens): a call that continues it is read all
        of that again, and reserves it."""
        if isinstance(usage, dict) and isinstance(response_id, str) and response_id:
            tokens = sum(bounded_count(usage.get(field)) for field in ("input_tokens", "output_tokens"))
            self.store.claim("response-tokens", response_id, frozenset({str(tokens)}), ttl)

    def record_trace(self, stream_id: str, traceparent: str, ttl: int) -> None:
        """Note the span that started a resumable stream, for the spans of those who resume it to link to."""
        self.store.claim("stream-trace", stream_id, frozenset({traceparent}), ttl)

    def recorded_trace(self, stream_id: str) -> str | None:
        """What `record_trace` noted of a stream (None when nothing was)."""
        return next(iter(self.store.owners("stream-trace", stream_id)), None)

    def recorded_tokens(self, response_id: str) -> int:
        """What `record_tokens` noted of a stored response (0 when nothing was)."""
        return max((int(value) for value in self.store.owners("response-tokens", response_id)), default=0)


def init_app(app: Flask, store: OwnershipStore, tokens: TokenRegistry, keys: Credentials) -> Ownership:
    """Keep the app's claims in `store`; a caller's identities come from its token (`tokens`) or its own key
    (`keys`)."""
    ownership_ = app.extensions[_KEY] = Ownership(store, tokens, keys)
    return ownership_


def ownership() -> Ownership:
    """The current app's claims."""
    return cast(Ownership, current_app.extensions[_KEY])


def key_identity(key: str) -> str:
    """Who holds an upstream key of their own, named without the key."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
