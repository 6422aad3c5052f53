"""The one door to the upstream: the client in front, the SDK clients, failover, the error map, the event stream,
the transports (the lean one, the demo model), and the hooks the guard plugs into every call."""

from chatgate.upstream.client import Answer, UpstreamClient, init_app, upstream_client
from chatgate.upstream.event_stream import EventStream, StreamEvent
from chatgate.upstream.hooks import Call, CallHook, Outcome

__all__ = [
    "Answer",
    "Call",
    "CallHook",
    "EventStream",
    "Outcome",
    "StreamEvent",
    "UpstreamClient",
    "init_app",
    "upstream_client",
]
