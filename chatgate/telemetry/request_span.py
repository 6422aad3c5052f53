"""The SERVER span of the request being served, kept in Flask's `g` for the request's own hooks."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context

SPAN = "otel_span"


def current_span() -> Any:
    """This request's span, or None (no request, or tracing off)."""
    return g.get(SPAN) if has_request_context() else None


def current_trace_id() -> str | None:
    """The trace id of this request's span, for its log line (None when it has none)."""
    span = current_span()
    return format(span.get_span_context().trace_id, "032x") if span is not None else None
