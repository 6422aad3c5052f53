"""Who made what the upstream keeps for later (a stored response): only that caller may see it through us.

Everything made through the server's key lives in one upstream account, so the upstream alone
would show any caller's stored response to any other who learned its id.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from chatgate.storage.contracts import OwnershipStore
from chatgate.upstream.hooks import bounded_count

_KEY = "ownership"


class Ownership:
    """Claims on ids, kept where every worker (and, on Redis, every instance) sees them."""

    def __init__(self, store: OwnershipStore):
        self.store = store

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

    def recorded_tokens(self, response_id: str) -> int:
        """What `record_tokens` noted of a stored response (0 when nothing was)."""
        return max((int(value) for value in self.store.owners("response-tokens", response_id)), default=0)


def init_app(app: Flask, store: OwnershipStore) -> Ownership:
    """Keep the app's claims in `store`."""
    ownership_ = app.extensions[_KEY] = Ownership(store)
    return ownership_


def ownership() -> Ownership:
    """The current app's claims."""
    return cast(Ownership, current_app.extensions[_KEY])
