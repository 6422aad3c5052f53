"""Stored tokens as an operator manages them: made, listed, changed and revoked. The token CLI and the admin API
both call these, so they always agree; a mistake is a ValueError whose sentence says which field and why."""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

from limits import parse

from chatgate.config import ConfigError, spend_amount
from chatgate.guard.token_store import TokenStore, seconds_of
from chatgate.storage.records import StoredToken

UNSET: Any = object()  # a change that leaves the field as it is


def checked_limit(value: str | None, field: str) -> str | None:
    """A request rate or token budget such as 60/minute (None: the settings' own)."""
    if value is not None:
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not a limit such as 60/minute or 100000/day") from None
    return value


def checked_spend(value: str | None, field: str) -> str | None:
    """A budget in US dollars such as 5/day (None: SPEND_LIMIT)."""
    if value is not None:
        try:
            spend_amount(value, field)
        except ConfigError as error:
            raise ValueError(str(error)) from None
    return value


def checked_expiry(value: str | int | None, field: str) -> int | None:
    """Seconds from now: 30d, 12h, 90m, or a number of seconds (None: never)."""
    if value is None:
        return None
    try:
        seconds = value if isinstance(value, int) and not isinstance(value, bool) else seconds_of(str(value))
    except ValueError as error:
        raise ValueError(f"{field}: {error}") from None
    if seconds <= 0:
        raise ValueError(f"{field}: a token must work for some time, not {value!r}")
    return seconds


def checked_models(value: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The only models it may use (None or nothing: every model)."""
    chosen = tuple(m.strip() for m in value or () if m.strip())
    return chosen or None


def create(
    store: TokenStore,
    name: str,
    expires_in: str | int | None = None,
    rate_limit: str | None = None,
    token_limit: str | None = None,
    spend_limit: str | None = None,
    models: list[str] | tuple[str, ...] | None = None,
    admin: bool = False,
    cache: bool = True,
) -> tuple[str, StoredToken]:
    """Make a token called `name`: the token itself (shown once: only its digest is kept) and what is kept."""
    token = store.create(
        name,
        expires_in=checked_expiry(expires_in, "expires_in"),
        rate_limit=checked_limit(rate_limit, "rate_limit"),
        token_limit=checked_limit(token_limit, "token_limit"),
        spend_limit=checked_spend(spend_limit, "spend_limit"),
        models=checked_models(models),
        admin=admin,
        cache=cache,
    )
    return token, named(store, name)


def change(
    store: TokenStore,
    name: str,
    expires_in: str | int | None = UNSET,
    rate_limit: str | None = UNSET,
    token_limit: str | None = UNSET,
    spend_limit: str | None = UNSET,
    models: list[str] | tuple[str, ...] | None = UNSET,
    admin: bool = UNSET,
    cache: bool = UNSET,
) -> StoredToken:
    """Change the active token called `name`: each field given (None clears a limit, an expiry or the models)."""
    stored = named(store, name)
    changes: dict[str, Any] = {}
    if expires_in is not UNSET:
        seconds = checked_expiry(expires_in, "expires_in")
        changes["expires_at"] = None if seconds is None else time.time() + seconds
    if rate_limit is not UNSET:
        changes["rate_limit"] = checked_limit(rate_limit, "rate_limit")
    if token_limit is not UNSET:
        changes["token_limit"] = checked_limit(token_limit, "token_limit")
    if spend_limit is not UNSET:
        changes["spend_limit"] = checked_spend(spend_limit, "spend_limit")
    if models is not UNSET:
        changes["models"] = checked_models(models)
    if admin is not UNSET:
        changes["admin"] = bool(admin)
    if cache is not UNSET:
        changes["cache"] = bool(cache)
    return store.replace(dataclasses.replace(stored, **changes))


def revoke(store: TokenStore, name: str) -> StoredToken:
    """Revoke the active token called `name`: every instance refuses it within a second."""
    stored = named(store, name)
    return store.replace(dataclasses.replace(stored, revoked_at=time.time()))


def named(store: TokenStore, name: str) -> StoredToken:
    """The active token called `name` (LookupError: none)."""
    found = next((t for t in store.listing() if t.name == name and t.revoked_at is None), None)
    if found is None:
        raise LookupError(f"no active token named {name!r}")
    return found


def state(stored: StoredToken) -> str:
    return "active" if stored.active else ("revoked" if stored.revoked_at else "expired")


def described(stored: StoredToken) -> dict[str, Any]:
    """What the admin API and the CLI say of a token: its name, state and policy (never the token)."""
    return {
        "name": stored.name,
        "state": state(stored),
        "created_at": iso(stored.created_at),
        "expires_at": iso(stored.expires_at),
        "revoked_at": iso(stored.revoked_at),
        "rate_limit": stored.rate_limit,
        "token_limit": stored.token_limit,
        "spend_limit": stored.spend_limit,
        "models": list(stored.models) if stored.models else None,
        "admin": stored.admin,
        "cache": stored.cache,
    }


def iso(seconds: float | None) -> str | None:
    """A time as ISO 8601 in UTC (None stays None)."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
