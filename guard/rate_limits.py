"""How much: a request rate and a token rate per caller, exact across workers (and instances on Redis)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, g, request
from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from config import Settings
from errors import RateLimited
from guard.access import current_caller, is_public
from guard.limit_storage import SQLiteStorage
from upstream import CallHook


def limit_storage(settings: Settings) -> Storage:
    """Counters every worker shares: Redis when configured, else the SQLite file of the sessions."""
    if settings.redis_url:
        return RedisStorage(settings.redis_url)
    return SQLiteStorage(f"sqlite:///{settings.session_db_path}")


def _headers(item: RateLimitItem, remaining: int, reset_at: float, suffix: str = "") -> dict[str, str]:
    return {f"X-RateLimit-Limit{suffix}": str(item.amount),
            f"X-RateLimit-Remaining{suffix}": str(max(0, remaining)),
            f"X-RateLimit-Reset{suffix}": str(math.ceil(reset_at))}


def _refusal(what: str, item: RateLimitItem, headers: dict[str, str], reset_at: float) -> RateLimited:
    retry_after = max(1, math.ceil(reset_at - time.time()))
    return RateLimited(f"Rate limit exceeded: at most {item} {what}. Try again in {retry_after} s.",
                       headers={**headers, "Retry-After": str(retry_after)})


class RateLimits(CallHook):
    """The two limits; as a call hook it checks and spends the token budget around each upstream call."""

    def __init__(self, settings: Settings, storage: Storage, on_refusal: Callable[[str], None]):
        self.limiter = FixedWindowRateLimiter(storage)
        self.requests = parse(settings.rate_limit) if settings.rate_limit else None
        self.tokens = parse(settings.token_limit) if settings.token_limit else None
        self._on_refusal = on_refusal  # told the limit's name at each refusal

    def admit(self) -> None:
        """Count this request against the caller's request rate (public pages aside); refuse it when over."""
        if self.requests is not None and request.method != "OPTIONS" and not is_public(request.path):
            g.rate_limit_headers = self._check_request()

    def _check_request(self) -> dict[str, str]:
        allowed = self.limiter.hit(self.requests, current_caller())
        reset_at, remaining = self.limiter.get_window_stats(self.requests, current_caller())
        headers = _headers(self.requests, remaining, reset_at)
        if not allowed:
            self._on_refusal("requests")
            raise _refusal("requests", self.requests, headers, reset_at)
        return headers

    def before_call(self, payload: dict) -> None:
        if self.tokens is None:
            return
        reset_at, remaining = self.limiter.get_window_stats(self.tokens, current_caller())
        headers = _headers(self.tokens, remaining, reset_at, "-Tokens")
        g.rate_limit_headers = {**g.get("rate_limit_headers", {}), **headers}
        if remaining <= 0:
            self._on_refusal("tokens")
            raise _refusal("tokens", self.tokens, headers, reset_at)

    def on_usage(self, model: str, usage: dict, estimated: bool) -> None:
        spent = int(usage.get("total_tokens") or 0)
        if self.tokens is not None and spent > 0:
            self.limiter.hit(self.tokens, current_caller(), cost=spent)


def init_app(app: Flask, settings: Settings, on_refusal: Callable[[str], None]) -> RateLimits | None:
    """The limits RATE_LIMIT and TOKEN_LIMIT ask for, with their headers on every answer; None when neither is set."""
    if not (settings.rate_limit or settings.token_limit):
        return None

    @app.after_request
    def add_rate_limit_headers(response):
        response.headers.update(g.get("rate_limit_headers", {}))
        return response

    return RateLimits(settings, limit_storage(settings), on_refusal)
