"""How much in money: SPEND_LIMIT (or a stored token's own), US dollars per caller and period, kept in
micro-dollars beside the token budgets and with their guarantees: each call reserves its worst-case cost (the
prompt's estimate at the input price, its output bound at the output price) atomically before it goes
upstream, and settles to its real cost after."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse

from chatgate.config import Settings, spend_amount
from chatgate.errors import BadRequest
from chatgate.guard.pricing import Prices
from chatgate.guard.rate_limits import NEVER_FITS, _refusal, reserve, settle
from chatgate.storage.contracts import Counters
from chatgate.storage.keys import escaped
from chatgate.storage.records import StoredToken
from chatgate.upstream import Call, CallHook


def budget_of(limit: str) -> RateLimitItem:
    """`5/day` as a budget of micro-dollars per day."""
    dollars, period = spend_amount(limit, "SPEND_LIMIT")
    return parse(f"{round(dollars * 1_000_000)}/{period}")


def _dollars(micro: float) -> str:
    return f"{max(0.0, micro) / 1_000_000:.6f}"


# The upstream's own tools that it bills per use (a search, a container, an image), beyond the tokens.
HOSTED_TOOLS = ("web_search", "file_search", "code_interpreter", "image_generation")


def _hosted_tool(payload: dict[str, Any]) -> str | None:
    """The first tool billed per use that a call may run: in `tools`, or chat's `web_search_options`."""
    if "web_search_options" in payload:
        return "web_search"
    tools = payload.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind.startswith(HOSTED_TOOLS):
            return kind
    return None


class SpendLimits(CallHook):
    """The dollar budget of each caller, as a call hook after the token budget (which a refusal here gives back)."""

    def __init__(self, settings: Settings, storage: Counters, prices: Prices, on_refusal: Callable[[str], None]):
        self.storage, self.prices = storage, prices
        self.default = budget_of(settings.spend_limit) if settings.spend_limit else None
        self.completion_reservation = settings.completion_reservation
        self._on_refusal = on_refusal

    def budget(self, policy: StoredToken | None) -> RateLimitItem | None:
        own = getattr(policy, "spend_limit", None)
        return budget_of(own) if own else self.default

    def before_call(self, call: Call) -> dict[str, str] | None:
        if (budget := self.budget(call.policy)) is None:
            return None
        if tool := _hosted_tool(call.payload):
            raise BadRequest(
                f"The hosted tool {tool!r} is billed per use, which a spend limit cannot bound: it is not served "
                "under a spend limit.",
                code="tool_not_priced",
                param="tools",
            )
        price = self.prices.of(call.model)
        if price is None:  # a cost that cannot be bounded is never served for free by accident
            raise BadRequest(
                f"The model {call.model!r} has no price, so a spend limit cannot bound it: add it to PRICES_FILE "
                "(a price of 0 is allowed).",
                code="model_not_priced",
                param="model",
            )
        worst = price.cost(call.prompt_estimate(), call.most_completion_tokens(self.completion_reservation))
        reserved = max(1, math.ceil(worst * 1_000_000))
        key = budget.key_for(escaped(call.caller), "spend")
        granted, total, window_ends = reserve(self.storage, budget, key, reserved)
        headers = {
            "X-RateLimit-Limit-Spend": _dollars(budget.amount),
            "X-RateLimit-Remaining-Spend": _dollars(budget.amount - total),
            "X-RateLimit-Reset-Spend": str(math.ceil(window_ends)),
        }
        if not granted:
            self._on_refusal("spend")
            never_fits = reserved > budget.amount
            refusal = _refusal("spend", budget, headers, window_ends, never_fits)
            cost = (
                f"This call may cost up to ${_dollars(reserved)} (its prompt, estimated, and its max_tokens or "
                f"{self.completion_reservation})"
            )
            limit = (
                f"Spend limit exceeded: at most ${_dollars(budget.amount)} per {budget.GRANULARITY.name} in US dollars."
            )
            refusal.message = (
                f"{limit} {cost}, {NEVER_FITS}"
                if never_fits
                else f"{limit} {cost}; ${_dollars(budget.amount - total)} are left. The budget renews in "
                f"{refusal.headers['Retry-After']} s."
            )
            raise refusal
        call.notes[self] = (key, budget.get_expiry(), reserved, window_ends)
        return headers

    def on_usage(self, call: Call, usage: dict[str, Any], estimated: bool) -> None:
        if self in call.notes:
            cost = self.prices.cost(call.model, usage) or 0.0
            settle(self.storage, call.notes.pop(self), math.ceil(cost * 1_000_000), "spend budget")

    def on_failure(self, call: Call) -> None:
        if self in call.notes:
            settle(self.storage, call.notes.pop(self), 0, "spend budget")
