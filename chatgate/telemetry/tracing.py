"""The OpenTelemetry SDK set up for this app: its own tracer provider, spans batched to the OTLP endpoint (an
unreachable collector costs a call nothing: export runs in the background), a SERVER span for every request that
continues the caller's `traceparent`."""

from __future__ import annotations

import platform
from typing import Any, cast

from flask import Flask, Response, g, request
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from chatgate import __version__
from chatgate.config import ConfigError, Settings
from chatgate.guard.access import current_caller
from chatgate.guard.pricing import Prices
from chatgate.telemetry.exporter import OtlpHttpExporter
from chatgate.telemetry.genai_spans import GenAiSpans
from chatgate.telemetry.request_span import SPAN, current_span


def install(app: Flask, settings: Settings, prices: Prices) -> GenAiSpans:
    """Trace the app's requests; the returned call hook traces its upstream attempts."""
    # The provider registers an at-fork hook; under gevent, a process forked while serving then runs that hook, and
    # with it this worker's greenlets, in the child, which can take a client's request and exit with it. The fork we
    # know a worker makes is the `uname -p` behind the OpenAI SDK's platform headers, on its first call: done now.
    platform.platform()
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    tracer = provider.get_tracer("chatgate", __version__)
    app.extensions["tracer"] = provider

    @app.before_request
    def start_server_span() -> None:
        route = request.url_rule.rule if request.url_rule else None
        g.setdefault(
            SPAN,
            tracer.start_span(
                f"{request.method} {route}" if route else request.method,
                context=propagate.extract(request.headers),
                kind=SpanKind.SERVER,
                attributes=_request_attributes(route),
            ),
        )

    @app.after_request
    def note_status(response: Response) -> Response:
        if (span := g.get(SPAN)) is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            span.set_attribute("chatgate.caller", current_caller())
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(response.status_code))
        return response

    @app.teardown_request
    def end_server_span(error: BaseException | None) -> None:
        if (span := g.pop(SPAN, None)) is not None:
            span.end()  # for a streamed answer: when its last byte went

    return GenAiSpans(tracer, settings, prices)


def _exporter(settings: Settings) -> SpanExporter:
    """OTLP over HTTP (protobuf); over gRPC when asked, if its exporter is installed."""
    if settings.otlp_protocol != "grpc":
        return OtlpHttpExporter(settings.otlp_traces_endpoint or "", dict(settings.otlp_headers))
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter as GrpcExporter,
        )
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc: pip install it, "
            "or use http/protobuf (the default)"
        ) from None
    return cast(SpanExporter, GrpcExporter(endpoint=settings.otlp_traces_endpoint, headers=settings.otlp_headers))


def _request_attributes(route: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.path": request.path,
        "url.scheme": request.scheme,
    }
    if route:
        attributes["http.route"] = route
    return attributes


def with_traceparent(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with the current request's span as `traceparent`: the upstream's own trace continues ours."""
    if (span := current_span()) is not None:
        propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers
