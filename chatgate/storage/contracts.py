"""What each store does, whatever keeps it: the contracts the SQLite and Redis backends both meet, and that the
rest of the service is written against (a session store, a stream buffer, ownership claims, the usage ledger,
stored tokens, upstream rests, limit counters)."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from limits.storage import Storage

from chatgate.storage.records import Batch, CachedAnswer, Session, StoredToken, Totals

State = tuple[float, int]  # an upstream's (or a model's) rest: (resting until, failures in a row)


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


class StreamBuffer(Protocol):
    """One resumable stream's frames and state (see `chatgate.streams`)."""

    def create(self, stream_id: str, kind: str) -> None: ...
    def append(self, stream_id: str, seq: int, frame: bytes) -> None: ...
    def finish(self, stream_id: str) -> None: ...
    def read(self, stream_id: str, after: int, wait: float) -> tuple[list[tuple[int, bytes]], bool]: ...
    def kind_of(self, stream_id: str) -> str | None: ...
    def stop(self, stream_id: str) -> None: ...
    def state(self, stream_id: str) -> tuple[bool, float]: ...
    def touch(self, stream_id: str) -> None: ...
    def alias(self, name: str, stream_id: str, ttl: float) -> None: ...
    def named(self, name: str) -> str | None: ...
    def finished(self, stream_id: str) -> bool: ...


class OwnershipStore(Protocol):
    """Claims on ids: who may see a stored response, a stream, an upload."""

    def claim(self, kind: str, item_id: str, identities: frozenset[str], ttl: int) -> None: ...
    def owners(self, kind: str, item_id: str) -> frozenset[str]: ...


class LedgerStore(Protocol):
    """Usage sums by caller, model and hour."""

    def add(self, batch: Batch, if_lost: Callable[[], None] | None = None) -> None: ...
    def totals(self, caller: str | None = None) -> Totals: ...
    def hours(self, since: int, until: int, caller: str | None = None) -> dict[int, Totals]: ...


class TokenBackend(Protocol):
    """Stored service tokens (their digests, never the tokens)."""

    def add(self, stored: StoredToken) -> bool: ...
    def all(self) -> list[StoredToken]: ...
    def replace(self, stored: StoredToken) -> None: ...
    def remove(self, names: list[str]) -> None: ...


class ResponseCache(Protocol):
    """Answers kept for a time, by the key of the request that got them; and, for each key, how many identical
    requests are in flight (the first asks the upstream, the others wait for its answer)."""

    def join(self, key: str, flight_ttl: int) -> tuple[CachedAnswer | None, int]:
        """The entry of `key`; without one, join its flight: (None, how many are in it now, this one counted)."""
        ...

    def look(self, key: str) -> tuple[CachedAnswer | None, int]:
        """The entry of `key`, and how many are in its flight."""
        ...

    def land(self, key: str, body: bytes | None, ttl: int, leads: bool) -> None:
        """Keep `body` (when given) as the entry of `key` for `ttl` seconds, and when this request `leads` its
        flight, end it: one write, that travels with the call's other end-of-call writes."""
        ...


class Rings(Protocol):
    """Bounded lists of records, newest first, shared by every worker and instance: the recent calls, the admin
    audit lines. Each ring keeps at most its `size` newest."""

    def add(self, ring: str, record: dict[str, Any], size: int) -> None:
        """Add `record`: a write that travels with the call's other end-of-call writes."""
        ...

    def latest(self, ring: str, count: int) -> list[dict[str, Any]]: ...


class Rests(Protocol):
    """Where upstreams (and models on an upstream) rest, for every worker."""

    def rest(self, name: str, until: float, failures: int) -> None: ...
    def states(self) -> dict[str, State]: ...


class FailureCounts(Protocol):
    """Fixed-window counters shared by every worker: all the router needs of the counters."""

    def count(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]: ...


class Counters(Storage):
    """Fixed-window counters shared by every worker: a `limits` storage (the request limiter runs on it), with the
    atomic reservation and settlement a budget needs."""

    @abc.abstractmethod
    def count(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """Add `amount` to a counter: (the count after, the window's end)."""

    @abc.abstractmethod
    def reserve(self, key: str, expiry: int, amount: int, limit: int) -> tuple[bool, int, float]:
        """Add `amount` only if the counter stays within `limit`: (granted, the count after, the window's end)."""

    @abc.abstractmethod
    def settle(self, key: str, expiry: int, reserved: int, spent: int, window_ends: float, what: str) -> None:
        """Settle a reservation made in the window ending at `window_ends` to what was spent."""


class Backend(Protocol):
    """What a backend hands out; `storage/sqlite` and `storage/redis` are the two."""

    kind: str  # "sqlite" or "redis"

    def sessions(self, ttl_seconds: int, max_messages: int) -> SessionStore: ...
    def stream_buffer(self, retention: float) -> StreamBuffer: ...
    def ownership(self) -> OwnershipStore: ...
    def ledger(self) -> LedgerStore: ...
    def tokens(self) -> TokenBackend: ...
    def rests(self) -> Rests: ...
    def counters(self) -> Counters: ...
    def response_cache(self, max_bytes: int) -> ResponseCache: ...
    def rings(self) -> Rings: ...
    def together(self) -> contextlib.AbstractContextManager[None]:
        """The writes in the block may travel together (one round trip on Redis)."""

    def problem(self) -> str | None: ...
    def is_new(self) -> bool: ...
    def close(self) -> None: ...
