"""Spans to the collector as OTLP over HTTP (protobuf), through httpx2 like every other call out of here.

OpenTelemetry's own HTTP exporter sends with `requests`, whose waits go through `select`, which the gevent worker
leaves unpatched (`chatgate.gevent_worker`): an export would stop every request of its worker while it waited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)
TIMEOUT = 10.0  # seconds for one export; it runs in the background, never in a request


class OtlpHttpExporter(SpanExporter):
    def __init__(self, endpoint: str, headers: dict[str, str]):
        self.endpoint = endpoint
        self.headers = {**headers, "Content-Type": "application/x-protobuf"}
        self.client = httpx2.Client(timeout=TIMEOUT)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = encode_spans(spans).SerializeToString()
        try:
            answer = self.client.post(self.endpoint, content=body, headers=self.headers)
        except httpx2.HTTPError as error:
            log.warning("%d spans not exported: %s", len(spans), type(error).__name__)
            return SpanExportResult.FAILURE
        if answer.status_code >= 300:
            log.warning("%d spans not exported: the collector answered %d", len(spans), answer.status_code)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.client.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
