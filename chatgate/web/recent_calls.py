"""The last RECENT_CALLS calls, across workers and instances: a ring in storage that the admin page reads. A record
holds no content: when, which request (and trace), whose, which surface, which model (and the fallback that served)
on which upstream, how it ended, tokens, cost, time to first byte, how long, streamed or not, from the cache or not.
Beside it, the admin actions' audit lines, in a ring of their own.

A plain call's record travels with the call's own end-of-call writes (one Redis round trip for all of them); a
stream's is written when it ends."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from flask import Flask, Response, current_app, g, has_request_context, request

from chatgate.guard.access import current_caller
from chatgate.guard.pricing import Prices
from chatgate.storage.contracts import Rings
from chatgate.storage.outage import outage_noted
from chatgate.telemetry import current_trace_id
from chatgate.upstream import Call, CallHook, Outcome
from chatgate.web.request_log import current_request_id

RING = "calls"
AUDIT_RING = "audit"
AUDIT_KEPT = 1000
_KEY = "recent_calls"
audit_log = logging.getLogger("audit")
_NOTES = "call_notes"
_TRIP = "storage_trip"


class CallNotes(CallHook):
    """Notes on the request what each of its upstream calls did, for the request's record."""

    def __init__(self, prices: Prices):
        self.prices = prices

    def after(self, call: Call, outcome: Outcome) -> None:
        if not has_request_context():
            return
        notes = g.setdefault(_NOTES, {"attempts": [], "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
        requested = notes.setdefault("model", call.model)
        notes["served_by"] = call.model if call.model != requested else None  # a fallback model
        notes["upstream"] = call.upstream
        notes["attempts"] += [[a.upstream, a.outcome, round(a.seconds * 1000, 1), a.began] for a in call.attempts]
        if call.answered_after is not None and "ttfb_ms" not in notes:
            notes["ttfb_ms"] = round(call.answered_after * 1000, 1)
        if (usage := outcome.usage) is not None:
            notes["prompt_tokens"] += usage.get("prompt_tokens", 0)
            notes["completion_tokens"] += usage.get("completion_tokens", 0)
            notes["cost_usd"] += self.prices.cost(call.model, usage) or 0.0


class RecentCalls:
    """The ring of recent calls: a record of each request to a surface that calls the upstream."""

    def __init__(self, rings: Rings, size: int):
        self.rings, self.size = rings, size

    def record(self, status: int, stream: bool, ended: str | None = None) -> None:
        """Keep this request's record (storage that is down loses it, said in one log line)."""
        if self.size <= 0:
            return
        notes = g.get(_NOTES) or {}
        seconds = time.perf_counter() - g.get("call_started", g.get("started", time.perf_counter()))
        record = {
            "at": time.time(),
            "request_id": current_request_id(),
            "trace_id": current_trace_id(),
            "caller": current_caller(),
            "surface": request.url_rule.rule if request.url_rule else request.path,
            "model": notes.get("model") or g.get("requested_model"),
            "served_by": notes.get("served_by"),
            "upstream": notes.get("upstream"),
            "attempts": notes.get("attempts", []),
            "status": status,
            "ended": ended,
            "prompt_tokens": notes.get("prompt_tokens", 0),
            "completion_tokens": notes.get("completion_tokens", 0),
            "cost_usd": round(notes.get("cost_usd", 0.0), 10),
            "ttfb_ms": notes.get("ttfb_ms"),
            "duration_ms": round(seconds * 1000, 1),
            "stream": stream,
            "cached": g.get("cache_verdict") == "HIT",
        }
        with outage_noted(f"recent call {record['request_id']}"):
            self.rings.add(RING, record, self.size)

    def latest(self) -> list[dict[str, Any]]:
        """Every record kept, newest first."""
        return self.rings.latest(RING, self.size) if self.size > 0 else []

    def audit(self, action: str, target: str, **details: Any) -> None:
        """One admin action: a log line and a line in the audit ring (who, what, on what; never a token)."""
        line = {"at": time.time(), "who": current_caller(), "action": action, "target": target, **details}
        audit_log.info("%s %s %s", line["who"], action, target, extra={"fields": line})
        self.rings.add(AUDIT_RING, line, AUDIT_KEPT)

    def audit_lines(self) -> list[dict[str, Any]]:
        """The admin actions kept, newest first."""
        return self.rings.latest(AUDIT_RING, AUDIT_KEPT)


def init_app(
    app: Flask, rings: Rings, size: int, together: Callable[[], contextlib.AbstractContextManager[None]]
) -> RecentCalls:
    """Record every call to a surface that spends the key (RECENT_CALLS=0: none). The writes a plain call makes
    travel in one trip, its record with them."""
    recent = app.extensions[_KEY] = RecentCalls(rings, size)
    if size <= 0:
        return recent

    @app.before_request
    def open_trip() -> None:
        trip = contextlib.ExitStack()
        trip.enter_context(together())
        g.setdefault(_TRIP, trip)

    @app.after_request
    def record_plain_call(response: Response) -> Response:
        try:
            if g.get("spends_key") and not response.is_streamed:
                recent.record(response.status_code, stream=False)
        finally:
            _close_trip()
        return response

    app.teardown_request(lambda error: _close_trip())
    return recent


def record_stream_end(ended: str) -> None:
    """A stream ended (`finished`, `client left`, `upstream failed`...): its record, if calls are kept."""
    if has_request_context() and g.get("spends_key"):
        recent_calls().record(200, stream=True, ended=ended)


def begin_call() -> None:
    """A call of its own on a request that carries many (an open WebSocket): its own notes, its own clock; and
    the request-wide storage trip ends, so that no call's writes wait for the connection's end."""
    g.pop(_NOTES, None)
    g.call_started = time.perf_counter()
    _close_trip()


def each_call_recorded() -> None:
    """The request's calls were each recorded as it ended (an open WebSocket's responses): none for the request."""
    g.pop("spends_key", None)


def recent_calls() -> RecentCalls:
    """The current app's recent calls and audit lines."""
    return cast(RecentCalls, current_app.extensions[_KEY])


def _close_trip() -> None:
    if (trip := g.pop(_TRIP, None)) is not None:
        trip.close()
