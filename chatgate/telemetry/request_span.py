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


def current_traceparent() -> str | None:
    """This request's span as a W3C `traceparent`, to be found again by a later request (None without one)."""
    span = current_span()
    if span is None:
        return None
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def link_to(traceparent: str | None) -> None:
    """Link this request's span to the span `traceparent` names (a resumed stream's generation)."""
    span = current_span()
    parts = (traceparent or "").split("-")
    if span is None or len(parts) != 4:
        return
    from opentelemetry.trace import SpanContext, TraceFlags  # loaded already: there is a span

    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return
    span.add_link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags)))
