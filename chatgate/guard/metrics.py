"""Prometheus metrics, correct under several gunicorn workers (prometheus-client's multiprocess mode).

In multiprocess mode PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is
imported: gunicorn.conf.py sets it for the workers, and removes each dead worker's files.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from chatgate.config import Settings
from chatgate.upstream import Call, CallHook, Outcome

REQUESTS = Counter("chat_api_requests_total", "HTTP requests served", ["method", "route", "status"])
UPSTREAM_LATENCY = Histogram(
    "chat_api_upstream_latency_seconds", "Time until the upstream answered a plain call", ["model"]
)
TIME_TO_FIRST_TOKEN = Histogram(
    "chat_api_time_to_first_token_seconds", "Time until a streamed upstream call sent its first event", ["model"]
)
OPEN_STREAMS = Gauge(
    "chat_api_open_streams", "Upstream streams open (or being opened) now", multiprocess_mode="livesum"
)
TOKENS = Counter("chat_api_tokens_total", "Tokens used, by model and kind", ["model", "kind"])
RATE_LIMIT_REFUSALS = Counter("chat_api_rate_limit_refusals_total", "Requests refused by a limit", ["limit"])
UPSTREAM_ERRORS = Counter("chat_api_upstream_errors_total", "Upstream calls that failed, by cause", ["cause"])
UPSTREAM_ATTEMPTS = Counter(
    "chat_api_upstream_attempts_total",
    "Attempts at each upstream, by outcome: ok, or the cause",
    ["upstream", "outcome"],
)
UPSTREAM_ATTEMPT_SECONDS = Histogram(
    "chat_api_upstream_attempt_seconds", "Time until an upstream answered (or failed) an attempt", ["upstream"]
)
CACHE_LOOKUPS = Counter(
    "chat_api_cache_lookups_total",
    "Response cache lookups by surface and how they ended: hit, miss, bypass; waited counts those that waited for an "
    "identical request in flight",
    ["surface", "verdict"],
)
CONTINUATIONS = Counter(
    "chat_api_stream_continuations_total",
    "Calls that continued a stream the upstream cut, by how they ended: answered, cut, failed",
    ["outcome"],
)
STREAM_OUTCOMES = Counter(
    "chat_api_stream_outcomes_total",
    "Streams that ended, by how: finished, client_left, upstream_failed, stopped",
    ["outcome"],
)


class MetricsHook(CallHook):
    """Count upstream calls, their attempts, their latency and their tokens."""

    def before(self, call: Call) -> None:
        if call.streaming:
            OPEN_STREAMS.inc()

    def after(self, call: Call, outcome: Outcome) -> None:
        if call.streaming:
            OPEN_STREAMS.dec()
        for attempt in call.attempts:
            UPSTREAM_ATTEMPTS.labels(attempt.upstream, attempt.outcome).inc()
            UPSTREAM_ATTEMPT_SECONDS.labels(attempt.upstream).observe(attempt.seconds)
        if call.answered_after is not None:
            latency = TIME_TO_FIRST_TOKEN if call.streaming else UPSTREAM_LATENCY
            latency.labels(call.model).observe(call.answered_after)
        for kind in ("prompt_tokens", "completion_tokens"):
            if amount := int((outcome.usage or {}).get(kind) or 0):
                TOKENS.labels(call.model, kind.removesuffix("_tokens")).inc(amount)
        if outcome.cause:
            UPSTREAM_ERRORS.labels(outcome.cause).inc()
        if call.continues is not None:
            CONTINUATIONS.labels(outcome.ended).inc()


def exposition(settings: Settings) -> bytes:
    """Every metric, summed over all worker processes when in multiprocess mode."""
    if settings.metrics_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=settings.metrics_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def count_stream_end(outcome: str) -> None:
    """A stream to a client ended."""
    STREAM_OUTCOMES.labels(outcome.replace(" ", "_")).inc()


def count_cache_lookup(verdict: str, model: object = None) -> None:
    """The response cache answered a lookup of this request's surface, on `model` (both noted on the request for
    its record)."""
    surface = request.url_rule.rule if request.url_rule else request.path
    CACHE_LOOKUPS.labels(surface, verdict.lower()).inc()
    g.cache_verdict = verdict
    if isinstance(model, str):
        g.requested_model = model


def count_refusal(limit: str) -> None:
    """A limit refused a request."""
    RATE_LIMIT_REFUSALS.labels(limit).inc()


def init_app(app: Flask) -> MetricsHook:
    """Count every request; the returned hook counts every upstream call."""

    @app.after_request
    def count_request(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    return MetricsHook()
