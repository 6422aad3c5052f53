"""Alerts before money runs out and when upstreams rest: a caller crossing 80%, 90% and 100% of a token or spend
budget, an upstream that starts or stops resting, a model none of whose upstreams is awake. Each is sent once per
window across workers and instances (a shared counter says who was first), to ALERT_WEBHOOK_URL."""

from __future__ import annotations

import math
import time
from typing import Any

from chatgate.alerts.webhook import Webhook
from chatgate.config import Settings
from chatgate.storage.contracts import Counters, Rests, State
from chatgate.storage.keys import escaped
from chatgate.storage.outage import outage_noted
from chatgate.upstream import Call, CallHook, Outcome
from chatgate.upstream.routing import _MODEL_SEPARATOR as MODEL_SEPARATOR

THRESHOLDS = (80, 90, 100)  # percent of a budget
UNITS = {"tokens": "tokens", "spend": "micro-dollars"}


class Alerts:
    """What is worth telling an operator, each told once a window."""

    def __init__(self, webhook: Webhook, counters: Counters, service: str):
        self.webhook, self.counters, self.service = webhook, counters, service

    def budget_used(self, budget: str, caller: str, used: int, limit: int, window_ends: float, refused: bool) -> None:
        """A caller's `budget` ("tokens" or "spend") holds `used` of `limit` until `window_ends`; `refused`: a call
        did not fit."""
        window = max(1, math.ceil(window_ends - time.time()))
        for threshold in THRESHOLDS:
            if not (used * 100 >= threshold * limit or (threshold == 100 and refused)):
                continue
            if self._first(f"alert:budget:{budget}:{escaped(caller)}:{threshold}:{int(window_ends)}", window):
                self._send(
                    "budget",
                    f"{caller} has used {threshold}% of its {budget} budget ({used} of {limit} {UNITS[budget]})"
                    + (": a call was refused." if refused and threshold == 100 else "."),
                    caller=caller,
                    budget=budget,
                    threshold=threshold,
                    used=used,
                    limit=limit,
                    window_ends=int(window_ends),
                )

    def upstream_rest(self, upstream: str, resting: bool, until: float = 0.0) -> None:
        """Upstream `upstream` started resting (until `until`) or is back."""
        state = "resting" if resting else "back"
        key = f"alert:upstream:{escaped(upstream)}:{state}:{int(until) if resting else int(time.time() // 60)}"
        if self._first(key, 120):
            text = (
                f"Upstream {upstream} is resting after failures, until {_instant(until)}."
                if resting
                else f"Upstream {upstream} answers again."
            )
            self._send("upstream_resting" if resting else "upstream_back", text, upstream=upstream)

    def model_unserved(self, model: str) -> None:
        """Every upstream of `model` rests: its callers get 503s (or a fallback)."""
        if self._first(f"alert:model:{escaped(model)}:{int(time.time() // 60)}", 120):
            self._send("model_unserved", f"Every upstream of {model} is resting.", model=model)

    def _first(self, key: str, window: int) -> bool:
        """Whether this is the first telling of `key` in its window, on any worker or instance."""
        with outage_noted(f"alert {key} (not sent: storage unavailable)"):
            return self.counters.count(key, window)[0] == 1
        return False

    def _send(self, event: str, text: str, **fields: Any) -> None:
        self.webhook.send({"text": f"[{self.service}] {text}", "event": event, "at": int(time.time()), **fields})


class UnservedModels(CallHook):
    """Alert when a call fails because every upstream of its model (and of its fallbacks) rests."""

    def __init__(self, alerts: Alerts):
        self.alerts = alerts

    def after(self, call: Call, outcome: Outcome) -> None:
        if outcome.cause == "resting":
            self.alerts.model_unserved(call.model)


class WatchedRests:
    """The shared rests, with an alert when a whole upstream starts resting, and when it is back (its first success
    after failures). A model's rest after a 429 is that caller's weather, not an alert."""

    def __init__(self, rests: Rests, alerts: Alerts):
        self.store, self.alerts = rests, alerts

    def rest(self, name: str, until: float, failures: int) -> None:
        self.store.rest(name, until, failures)
        if MODEL_SEPARATOR not in name:  # an upstream's own name, not a model on it
            if until > time.time():
                self.alerts.upstream_rest(name, True, until)
            elif failures == 0:
                self.alerts.upstream_rest(name, False)

    def states(self) -> dict[str, State]:
        return self.store.states()


def watching(rests: Rests, alerts: Alerts | None) -> Rests:
    """`rests`, watched for alerts when there are alerts to send."""
    return WatchedRests(rests, alerts) if alerts is not None else rests


def hooks(alerts: Alerts | None) -> tuple[CallHook, ...]:
    """The call hooks alerts need: none when there are no alerts."""
    return (UnservedModels(alerts),) if alerts is not None else ()


def _instant(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def init_app(settings: Settings, counters: Counters) -> Alerts | None:
    """The app's alerts, when ALERT_WEBHOOK_URL is set (None otherwise: nothing is counted or sent)."""
    if not settings.alert_webhook_url:
        return None
    webhook = Webhook(settings.alert_webhook_url, settings.alert_webhook_secret, settings.alert_webhook_timeout)
    return Alerts(webhook, counters, settings.otel_service_name)
