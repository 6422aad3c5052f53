"""What the stores keep, whatever keeps it: sessions, stored tokens, usage sums, resumable streams."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import secrets
import time


@dataclasses.dataclass(frozen=True)
class Session:
    """One conversation: its developer message and its turns, oldest first."""

    session_id: str
    developer_message: str
    messages: list[dict[str, str]]  # {"role": "user" | "assistant", "content": str}
    created_at: float
    last_updated: float
    owners: frozenset[str] = frozenset()  # the caller identities that may see it (see OwnedSessions)

    @staticmethod
    def iso(timestamp: float) -> str:
        return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


_ID = re.compile(r"^[A-Za-z0-9_-]{24}$")


def new_session_id() -> str:
    """An unguessable id (24 URL-safe characters), and its owner, guard a session's history."""
    return secrets.token_urlsafe(18)


def is_session_id(value: str) -> bool:
    """Whether `value` could be an id `new_session_id` made: nothing else reaches a store."""
    return bool(_ID.match(value))


def now() -> float:
    return time.time()


def kept_messages(max_messages: int) -> int:
    """How many messages a capped history keeps: whole turns only, so never a reply without its question."""
    return max(2, max_messages - max_messages % 2)


@dataclasses.dataclass(frozen=True)
class StoredToken:
    """What is kept of one token: never the token itself."""

    name: str
    digest: str
    created_at: float
    expires_at: float | None = None
    rate_limit: str | None = None
    token_limit: str | None = None
    models: tuple[str, ...] | None = None
    revoked_at: float | None = None
    spend_limit: str | None = None  # its own SPEND_LIMIT, e.g. 5/day
    cache: bool = True  # False: its requests never read nor write the response cache
    admin: bool = False  # an admin token: the admin API, everyone's usage

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > time.time())

    def record(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_record(cls, record: str) -> StoredToken:
        fields = json.loads(record)
        fields["models"] = tuple(fields["models"]) if fields.get("models") else None
        return cls(**fields)


# The usage ledger's sums, per caller, model and hour (UTC, as a Unix time): totals, and buckets over time.
FIELDS = (
    "prompt_tokens",
    "cached_prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "calls",
    "estimated_calls",
    # Answers the response cache gave instead of the upstream, and the tokens they would have cost.
    "cache_hits",
    "saved_prompt_tokens",
    "saved_completion_tokens",
)
SAVED = {"prompt_tokens": "saved_prompt_tokens", "completion_tokens": "saved_completion_tokens"}
Batch = dict[tuple[str, str, int], dict[str, int]]  # (caller, model, hour) -> sums of FIELDS
Totals = dict[str, dict[str, dict[str, int]]]  # caller -> model -> sums of FIELDS

# The most a resumable stream can run; it expires STREAM_RETENTION seconds after it finishes.
RUNNING_FOR = 24 * 3600


@dataclasses.dataclass(frozen=True)
class CachedAnswer:
    """An upstream's answer kept by the response cache: its body, and when it was stored (seconds since the epoch)."""

    body: bytes
    stored_at: float
