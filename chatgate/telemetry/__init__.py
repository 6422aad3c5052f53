"""Traces, when an OTLP endpoint is configured: a SERVER span per request, a CLIENT span per upstream attempt in
OpenTelemetry's GenAI conventions. Off, neither the tracing SDK nor its exporter is imported, and a call pays
nothing for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatgate.telemetry.request_span import current_trace_id, current_traceparent, link_to

if TYPE_CHECKING:  # the request log imports this package in gunicorn's master, which must stay small
    from flask import Flask

    from chatgate.config import Settings
    from chatgate.guard.pricing import Prices
    from chatgate.upstream import CallHook

__all__ = ["current_trace_id", "current_traceparent", "init_app", "link_to", "propagating"]


def init_app(app: Flask, settings: Settings, prices: Prices) -> tuple[CallHook, ...]:
    """Trace every request when an OTLP endpoint is configured; the returned hook traces every upstream attempt."""
    if not settings.otlp_traces_endpoint:
        return ()
    from chatgate.telemetry import tracing  # the SDK and its exporter only load when traces are on

    return (tracing.install(app, settings, prices),)


def propagating(app: Flask, headers: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
    """`headers` for each upstream call, with this request's `traceparent` when tracing is on."""
    if "tracer" not in app.extensions:
        return headers
    from chatgate.telemetry.tracing import with_traceparent

    return lambda: with_traceparent(headers())
