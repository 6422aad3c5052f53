"""Service tokens kept in storage (SQLite or Redis), made and revoked while the service runs.

Only a token's SHA-256 digest is kept. Each token has a name (what /usage and the logs call
its caller), and may have an expiry, its own request and token limits, and a list of models.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Any

from chatgate.storage.contracts import TokenBackend
from chatgate.storage.records import StoredToken

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seconds_of(duration: str) -> int:
    """`30d`, `12h`, `90m`, `45s` or plain seconds."""
    match = _DURATION.match(duration.strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration such as 30d, 12h, 90m or 3600")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def new_token(
    name: str,
    expires_in: int | None = None,
    rate_limit: str | None = None,
    token_limit: str | None = None,
    models: tuple[str, ...] | None = None,
    spend_limit: str | None = None,
    cache: bool = True,
    admin: bool = False,
) -> tuple[str, StoredToken]:
    """A fresh token (shown once) and what is kept of it."""
    if not NAME.match(name):
        raise ValueError("a token's name is 1 to 64 letters, digits, dots, dashes or underscores")
    token = "cat_" + secrets.token_urlsafe(32)
    now = time.time()
    expires_at = now + expires_in if expires_in else None
    return token, StoredToken(
        name,
        digest(token),
        now,
        expires_at,
        rate_limit,
        token_limit,
        models,
        spend_limit=spend_limit,
        cache=cache,
        admin=admin,
    )


class TokenStore:
    """The stored tokens, read again at most once a second by each process: a token made or revoked on one
    instance counts on every instance within a second."""

    def __init__(self, backend: TokenBackend, refresh_seconds: float = 1.0):
        self.backend = backend
        self.refresh_seconds = refresh_seconds
        self._by_digest: dict[str, StoredToken] = {}
        self._any = False
        self._read_at = float("-inf")

    def create(self, name: str, **policy: Any) -> str:
        token, stored = new_token(name, **policy)
        if not self.backend.add(stored):
            raise ValueError(f"a token named {name!r} exists already")
        self._read_at = float("-inf")
        return token

    def replace(self, stored: StoredToken) -> StoredToken:
        """Keep `stored` in place of the token of its name: every instance uses it within a second."""
        self.backend.replace(stored)
        self._read_at = float("-inf")
        return stored

    def forget_unusable(self) -> list[str]:
        """Forget every revoked or expired token (their names are returned): with none stored, and none in the
        settings, the service is open again."""
        names = [stored.name for stored in self.backend.all() if not stored.active]
        self.backend.remove(names)
        self._read_at = float("-inf")
        return names

    def listing(self) -> list[StoredToken]:
        return self.backend.all()

    def _read(self) -> None:
        now = time.monotonic()
        if now - self._read_at >= self.refresh_seconds:
            every = self.backend.all()
            self._any = bool(every)
            self._by_digest = {t.digest: t for t in every if t.active}
            self._read_at = now

    def any(self) -> bool:
        """Whether any token was ever stored: revoked and expired ones too, so that the service never opens
        again because its last token was revoked or ran out."""
        self._read()
        return self._any

    def active(self) -> dict[str, StoredToken]:
        """The usable tokens by digest."""
        self._read()
        return {d: t for d, t in self._by_digest.items() if t.active}  # one may have expired since the read

    def read_again(self) -> dict[str, StoredToken]:
        """The usable tokens by digest, read from storage now."""
        self._read_at = float("-inf")
        return self.active()
