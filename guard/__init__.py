"""Who may call, with which key, how much, and at what cost: access, credentials, limits, the usage ledger, metrics."""

from __future__ import annotations

from flask import Flask

from config import Settings
from errors import Unauthorized
from guard import access, concurrency, credentials, metrics, ownership, rate_limits, usage_ledger
from upstream import CallHook


def init_app(app: Flask, settings: Settings) -> tuple[CallHook, ...]:
    """Guard every request (how many at once, whether it may, then how often) and return the hooks that guard
    every upstream call."""
    tokens = access.init_app(app, settings)
    credentials.init_app(app, settings, tokens)
    storage = rate_limits.limit_storage(settings)  # shared by every worker (and, on Redis, every instance)
    limits = rate_limits.init_app(app, settings, storage, on_refusal=metrics.count_refusal)
    failures = rate_limits.AuthFailureLimit(settings, storage, metrics.count_refusal) \
        if settings.access_control else None
    in_flight = concurrency.init_app(app, settings, on_refusal=metrics.count_refusal)
    ledger = usage_ledger.init_app(app, settings)
    ownership.init_app(app, settings)

    @app.before_request
    def guard_request():
        access.identify(tokens)
        in_flight.admit()  # before the body is read: a caller's slow requests hold only its own slots
        if failures is not None and access.needs_token(settings):
            failures.admit()
        try:
            access.admit(tokens, settings)  # then who: an unknown caller never spends a known caller's budget
        except Unauthorized:
            if failures is not None:
                failures.count_failure()
            raise
        if limits is not None:
            limits.admit()

    call_hooks = (usage_ledger.LedgerHook(ledger), metrics.init_app(app))
    return call_hooks if limits is None else (limits, *call_hooks)
