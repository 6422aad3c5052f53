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
from chatgate.guard.rate_limits import NEVER_FITS, BudgetHook, BudgetUsed
from chatgate.storage.contracts import Counters
from chatgate.storage.keys import escaped
from chatgate.storage.records import StoredToken
from chatgate.upstream import Call


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


class SpendBudget(BudgetHook):
    """The dollar budget of each caller, as a call hook after the token budget (which a refusal here gives back)."""

    kind, budget_name = "spend", "spend budget"

    def __init__(
        self,
        settings: Settings,
        storage: Counters,
        prices: Prices,
        on_refusal: Callable[[str], None],
        on_used: BudgetUsed | None = None,
    ):
        super().__init__(settings, storage, on_refusal, on_used)
        self.prices = prices

    def default_of(self, settings: Settings) -> RateLimitItem | None:
        return budget_of(settings.spend_limit) if settings.spend_limit else None

    def budget(self, policy: StoredToken | None) -> RateLimitItem | None:
        """A caller's dollar budget: its stored token's own, else SPEND_LIMIT."""
        own = getattr(policy, "spend_limit", None)
        return budget_of(own) if own else self.default

    def before(self, call: Call) -> dict[str, str] | None:
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

        def headers(left: int, window_ends: float) -> dict[str, str]:
            return {
                "X-RateLimit-Limit-Spend": _dollars(budget.amount),
                "X-RateLimit-Remaining-Spend": _dollars(left),
                "X-RateLimit-Reset-Spend": str(math.ceil(window_ends)),
            }

        def refused(never_fits: bool, left: int, renews_in: str) -> str:
            limit = (
                f"Spend limit exceeded: at most ${_dollars(budget.amount)} per {budget.GRANULARITY.name} in US dollars."
            )
            cost = (
                f"This call may cost up to ${_dollars(reserved)} (its prompt, estimated, and its max_tokens or "
                f"{self.completion_reservation})"
            )
            if never_fits:
                return f"{limit} {cost}, {NEVER_FITS}"
            return f"{limit} {cost}; ${_dollars(left)} are left. The budget renews in {renews_in} s."

        return self._reserve(call, budget, budget.key_for(escaped(call.caller), "spend"), reserved, headers, refused)

    def spent(self, call: Call, usage: dict[str, Any]) -> int:
        return math.ceil((self.prices.cost(call.model, usage) or 0.0) * 1_000_000)
