"""A small OTLP/HTTP receiver on loopback: it takes `POST /v1/traces` in protobuf, as an OpenTelemetry collector
does, decodes each span (name, kind, ids, parent, attributes, status, times) and keeps it for the test to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.loopback import LoopbackReceiver

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, which) if which else None


@dataclass
class Span:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    status: int  # 0 unset, 1 ok, 2 error
    start_ns: int
    end_ns: int
    service: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (trace id, span id) of each linked span
    raw: bytes = field(default=b"", repr=False)  # the span as it came: a test can look for a secret in it


class OtlpReceiver(LoopbackReceiver):
    def __init__(self):
        self.headers_seen: list[dict[str, str]] = []
        super().__init__()
        self.url = self.base_url

    @property
    def spans(self) -> list[Span]:
        return self.kept

    def answer(self, path: str) -> tuple[int, str, bytes]:
        status = 200 if path == "/v1/traces" else 404
        return status, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()

    def keep(self, path: str, headers: dict[str, str], body: bytes) -> list[Span]:
        self.headers_seen.append(headers)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [_span(span, str(resource.get("service.name", ""))) for span in scope_spans.spans]
        return spans


def _span(span: Any, service: str) -> Span:
    return Span(
        name=span.name,
        kind=KINDS.get(span.kind, str(span.kind)),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        attributes={a.key: _value(a.value) for a in span.attributes},
        status=span.status.code,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        service=service,
        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
        raw=span.SerializeToString(),
    )
