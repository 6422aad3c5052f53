"""How much: a request rate and a token budget per caller, exact across workers (and instances on Redis)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter

from chatgate.config import Settings
from chatgate.errors import ApiError, RateLimited
from chatgate.guard.access import current_caller, current_policy
from chatgate.guard.token_store import digest
from chatgate.storage.contracts import Counters
from chatgate.storage.keys import escaped
from chatgate.storage.outage import outage_noted
from chatgate.storage.records import StoredToken
from chatgate.upstream import Call, CallHook, Outcome


@functools.lru_cache(maxsize=256)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)


View = TypeVar("View", bound=Callable[..., Any])
Reservation = tuple[str, int, int, float]  # a budget's key, its expiry, what was reserved, when its window ends
# Told of a budget 80% used or more: its kind, the caller, what is used, the limit, when the window ends, refused.
BudgetUsed = Callable[[str, str, int, int, float, bool], None]
_KEY = "rate_limits"


def spends_key(view: View) -> View:
    """Count the view's requests against the caller's request rate (RATE_LIMIT, or its token's own), refusing it
    when over, and give its answer or its error the rate's headers: only views whose requests reach the upstream
    are counted (not health, info, docs, models, usage or metrics)."""

    @functools.wraps(view)
    def counted(*args: Any, **kwargs: Any) -> Response:
        headers = count_call()
        if not headers:  # no request rate: nothing to add
            return view(*args, **kwargs)  # type: ignore[no-any-return]
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except ApiError as error:
            error.headers = {**headers, **error.headers}
            raise
        response.headers.update(headers)
        return response

    return cast(View, counted)


def count_call() -> dict[str, str]:
    """Count a call (a request, or a response on an open WebSocket) against the caller's request rate, refusing
    it when over: the rate's headers."""
    g.spends_key = True  # a call: the recent calls keep its record
    return cast(RequestRate, current_app.extensions[_KEY]).count_request()


def _headers(item: RateLimitItem, remaining: int, reset_at: float, suffix: str = "") -> dict[str, str]:
    return {
        f"X-RateLimit-Limit{suffix}": str(item.amount),
        f"X-RateLimit-Remaining{suffix}": str(max(0, remaining)),
        f"X-RateLimit-Reset{suffix}": str(math.ceil(reset_at)),
    }


# What a call whose worst case is more than the whole budget is told, whichever budget it is.
NEVER_FITS = "more than the whole budget, so it can never fit: send a shorter prompt or a lower max_tokens."


def _retry_after(item: RateLimitItem, reset_at: float, never_fits: bool = False) -> int:
    """Whole seconds until the window ends, at least 1. A call that can never fit (its worst case is more than the
    whole budget) is told not to come back before the window renews, or for a whole period when none is open."""
    left = reset_at - time.time()
    return max(1, math.ceil(left if left > 0 or not never_fits else item.get_expiry()))


def _refusal(
    what: str, item: RateLimitItem, headers: dict[str, str], reset_at: float, never_fits: bool = False
) -> RateLimited:
    """A 429 with its Retry-After; one for a call that can never fit also tells SDKs that read `x-should-retry`
    (OpenAI's) not to retry it at all."""
    retry_after = _retry_after(item, reset_at, never_fits)
    extra = {"x-should-retry": "false"} if never_fits else {}
    return RateLimited(
        f"Rate limit exceeded: at most {item} {what}. Try again in {retry_after} s.",
        headers={**headers, "Retry-After": str(retry_after), **extra},
    )


class BudgetHook(CallHook):
    """A call hook that reserves each upstream call's most possible cost from the caller's budget before the call,
    atomically across workers and instances, and settles to the real cost after: a burst of calls spends at most
    the budget, plus what the estimates missed. A budget of tokens and one of dollars are each one."""

    kind = "budget"  # its name in the refusal counts
    budget_name = "budget"  # and in the settlement log lines

    def __init__(
        self,
        settings: Settings,
        storage: Counters,
        on_refusal: Callable[[str], None],
        on_used: BudgetUsed | None = None,
    ):
        self.storage = storage
        self.completion_reservation = settings.completion_reservation
        self.default = self.default_of(settings)
        self._on_refusal = on_refusal  # told the budget's name at each refusal
        self._on_used = on_used  # told when a caller's budget is 80% used or more, or refuses a call

    def default_of(self, settings: Settings) -> RateLimitItem | None:
        """The budget of a caller whose token has none of its own."""
        raise NotImplementedError

    def spent(self, call: Call, usage: dict[str, Any]) -> int:
        """What `usage` cost, in the budget's unit."""
        raise NotImplementedError

    def _reserve(
        self,
        call: Call,
        budget: RateLimitItem,
        key: str,
        amount: int,
        headers_of: Callable[[int, float], dict[str, str]],
        refused: Callable[[bool, int, str], str],
    ) -> dict[str, str]:
        """Reserve `amount` for `call` from `budget` and return the budget's headers; or refuse the call with a 429
        whose message is `refused(never fits, what is left, seconds until it renews)`."""
        granted, total, window_ends = reserve(self.storage, budget, key, amount)
        headers = headers_of(budget.amount - total, window_ends)
        if self._on_used is not None and (not granted or total * 5 >= budget.amount * 4):
            self._on_used(self.kind, call.caller, total, budget.amount, window_ends, not granted)
        if not granted:
            self._on_refusal(self.kind)
            never_fits = amount > budget.amount
            refusal = _refusal(self.kind, budget, headers, window_ends, never_fits)
            refusal.message = refused(never_fits, max(0, budget.amount - total), refusal.headers["Retry-After"])
            raise refusal
        call.notes[self] = (key, budget.get_expiry(), amount, window_ends)
        return headers

    def after(self, call: Call, outcome: Outcome) -> None:
        if self in call.notes:
            spent = self.spent(call, outcome.usage) if outcome.usage is not None else 0
            settle(self.storage, call.notes.pop(self), spent, self.budget_name)


class RequestRate:
    """How often a caller may send a request that spends the key (RATE_LIMIT, or its stored token's own); counted
    by `spends_key`."""

    def __init__(self, settings: Settings, storage: Counters, on_refusal: Callable[[str], None]):
        self.storage = storage
        self.default = parse(settings.rate_limit) if settings.rate_limit else None
        self._on_refusal = on_refusal

    def limit(self, policy: StoredToken | None) -> RateLimitItem | None:
        """A caller's request rate: its stored token's own, else RATE_LIMIT."""
        return _parsed(policy.rate_limit) if policy and policy.rate_limit else self.default

    def count_request(self) -> dict[str, str]:
        """Count this request against the caller's request rate, refusing it when over: the rate's headers."""
        if (item := self.limit(current_policy())) is None:
            return {}
        count, reset_at = self.storage.count(item.key_for(escaped(current_caller())), item.get_expiry())
        headers = _headers(item, item.amount - count, reset_at)
        if count > item.amount:
            self._on_refusal("requests")
            raise _refusal("requests", item, headers, reset_at)
        return headers


class TokenBudget(BudgetHook):
    """How many tokens a caller may spend in a period (TOKEN_LIMIT, or its stored token's own), as a call hook."""

    kind, budget_name = "tokens", "token budget"

    def default_of(self, settings: Settings) -> RateLimitItem | None:
        return parse(settings.token_limit) if settings.token_limit else None

    def budget(self, policy: StoredToken | None) -> RateLimitItem | None:
        """A caller's token budget: its stored token's own, else TOKEN_LIMIT."""
        return _parsed(policy.token_limit) if policy and policy.token_limit else self.default

    def before(self, call: Call) -> dict[str, str] | None:
        if (budget := self.budget(call.policy)) is None:
            return None
        reserved = call.prompt_estimate() + call.most_completion_tokens(self.completion_reservation)

        def refused(never_fits: bool, left: int, renews_in: str) -> str:
            cost = (
                f"This call may cost up to {reserved} tokens (its prompt, estimated, and its max_tokens or "
                f"{self.completion_reservation})"
            )
            if never_fits:
                return f"Rate limit exceeded: at most {budget} tokens. {cost}, {NEVER_FITS}"
            return f"Rate limit exceeded: at most {budget} tokens. Try again in {renews_in} s. {cost}; {left} are left."

        key = budget.key_for(escaped(call.caller))
        return self._reserve(
            call, budget, key, reserved, lambda left, ends: _headers(budget, left, ends, "-Tokens"), refused
        )

    def spent(self, call: Call, usage: dict[str, Any]) -> int:
        return int(usage.get("total_tokens") or 0)


def reserve(storage: Counters, budget: RateLimitItem, key: str, amount: int) -> tuple[bool, int, float]:
    """Take `amount` from a budget if it fits: (granted, what the window holds after, when it ends). Atomic, so a
    refused reservation adds nothing and cannot push another call out; one larger than the whole budget is
    refused before the budget is touched."""
    if amount > budget.amount:
        return False, storage.get(key), storage.get_expiry(key)
    return storage.reserve(key, budget.get_expiry(), amount, budget.amount)


def settle(storage: Counters, note: Reservation, spent: int, what: str) -> None:
    """Settle a reservation (`note`: key, expiry, reserved, window end) to what was spent."""
    key, expiry, reserved, window_ends = note
    what = f"{what} settlement of {spent} spent against {reserved} reserved on {key}"
    with outage_noted(what):
        storage.settle(key, expiry, reserved, spent, window_ends, what)


class AuthFailureLimit:
    """Failed authentications per client address: past AUTH_FAILURE_LIMIT an address may not try a token again
    until the window ends, so that guessing tokens is as slow as the limit says. A token that worked from that
    address in this window or the last still gets in: one stale tab behind a NAT does not lock out its office."""

    MOST_REMEMBERED = 10_000  # (address, token) pairs this process remembers having written in this window

    def __init__(
        self,
        settings: Settings,
        storage: Counters,
        on_refusal: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ):
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self.failures = parse(settings.auth_failure_limit)
        self._on_refusal = on_refusal
        self._clock = clock  # which window a token worked in
        self._written: dict[str, int] = {}  # known-token key -> the window it was written in, by this process

    def _key(self) -> str:
        return f"auth-failures:{request.remote_addr or 'unknown'}"

    def _known_key(self, token: str, window: int) -> str:
        return f"auth-known:{request.remote_addr or 'unknown'}:{digest(token)[:32]}:{window}"

    def _window(self) -> int:
        return int(self._clock() // self.failures.get_expiry())

    def admit(self, token: str | None) -> None:
        """Refuse an address that has failed too often, before its token is even compared, unless that token
        worked from it lately."""
        window = self._window()
        if token and any(self._written.get(self._known_key(token, w)) == w for w in (window, window - 1)):
            return  # this process saw it work from here lately: it gets in whatever the count, so none is read
        if self.limiter.test(self.failures, self._key()):
            return
        if token and any(self.storage.get(self._known_key(token, w)) for w in (window, window - 1)):
            return
        reset_at, _ = self.limiter.get_window_stats(self.failures, self._key())
        self._on_refusal("auth_failures")
        retry_after = _retry_after(self.failures, reset_at)
        raise RateLimited(
            f"Too many failed authentications from this address (at most {self.failures}). "
            f"Try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )

    def count_failure(self) -> None:
        self.limiter.hit(self.failures, self._key())

    def count_success(self, token: str) -> None:
        """Remember that `token` worked from this address, once per window and process: a write per window, not
        per request."""
        window = self._window()
        key = self._known_key(token, window)
        if self._written.get(key) == window:
            return
        if len(self._written) >= self.MOST_REMEMBERED:
            self._written.clear()
        self.storage.incr(key, 2 * self.failures.get_expiry())
        self._written[key] = window


def init_app(
    app: Flask,
    settings: Settings,
    storage: Counters,
    on_refusal: Callable[[str], None],
    on_used: BudgetUsed | None = None,
) -> TokenBudget:
    """Give the app its request rate, which `spends_key` counts; the token budget is returned, a call hook."""
    app.extensions[_KEY] = RequestRate(settings, storage, on_refusal)
    return TokenBudget(settings, storage, on_refusal, on_used)
