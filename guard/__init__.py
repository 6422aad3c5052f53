"""Who may call, with which key, how much, and at what cost: access, credentials, limits, the usage ledger, metrics."""

from __future__ import annotations

from flask import Flask

from config import Settings
from guard import access, credentials, metrics, rate_limits, usage_ledger
from upstream import CallHook


def init_app(app: Flask, settings: Settings) -> tuple[CallHook, ...]:
    """Guard every request (who, then how often) and return the hooks that guard every upstream call."""
    tokens = access.init_app(app, settings)
    credentials.init_app(app, settings, tokens)
    limits = rate_limits.init_app(app, settings, on_refusal=metrics.count_refusal)
    ledger = usage_ledger.init_app(app, settings)

    @app.before_request
    def guard_request():
        access.admit(tokens, settings)  # first who: an unknown caller never spends a known caller's budget
        if limits is not None:
            limits.admit()

    call_hooks = (usage_ledger.LedgerHook(ledger), metrics.init_app(app))
    return call_hooks if limits is None else (limits, *call_hooks)
