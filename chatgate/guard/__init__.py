"""Who may call, with which key, how much, and at what cost: access, credentials, limits, the usage ledger, metrics."""

from __future__ import annotations

from flask import Flask

from chatgate.config import Settings
from chatgate.errors import Unauthorized
from chatgate.guard import (
    access,
    concurrency,
    credentials,
    metrics,
    ownership,
    rate_limits,
    token_store,
    tokens_cli,
    usage_ledger,
)
from chatgate.guard.model_policy import ModelPolicy
from chatgate.guard.pricing import Prices
from chatgate.guard.rate_limits import BudgetUsed
from chatgate.guard.spend_limits import SpendBudget
from chatgate.storage import Backend
from chatgate.upstream import CallHook


def init_app(
    app: Flask, settings: Settings, store: Backend, prices: Prices, on_budget_used: BudgetUsed | None = None
) -> tuple[CallHook, ...]:
    """Guard every request (how many at once, whether it may, then how often) and return the hooks that guard
    every upstream call; tokens, counters, the ledger and claims are kept in `store`; a budget 80% used or more
    is told to `on_budget_used`."""
    tokens = access.init_app(app, settings, token_store.TokenStore(store.tokens()))
    tokens_cli.init_app(app)
    keys = credentials.init_app(app, settings, tokens)
    counters = store.counters()  # shared by every worker (and, on Redis, every instance)
    token_budget = rate_limits.init_app(app, settings, counters, metrics.count_refusal, on_budget_used)
    failures = rate_limits.AuthFailureLimit(settings, counters, metrics.count_refusal)
    in_flight = concurrency.init_app(app, settings, on_refusal=metrics.count_refusal)
    ledger = usage_ledger.init_app(app, store.ledger(), prices)
    spend_budget = SpendBudget(settings, counters, prices, metrics.count_refusal, on_budget_used)
    ownership.init_app(app, store.ownership(), tokens, keys)

    @app.before_request
    def guard_request() -> None:
        access.identify(tokens)
        in_flight.admit()  # before the body is read: a caller's slow requests hold only its own slots
        if access.needs_token(tokens):
            token = access.presented_token()
            failures.admit(token)
            try:
                access.admit(tokens)  # then who: an unknown caller never spends a known caller's budget
            except Unauthorized:
                failures.count_failure()
                raise
            if token:
                failures.count_success(token)

    # The model policy first: a refused model reserves nothing; a spend refusal gives the tokens back.
    return ModelPolicy(), token_budget, spend_budget, usage_ledger.LedgerHook(ledger), metrics.init_app(app)
