"""The one door to the upstream: the upstream client (the only importer of `openai`), its streams, and the hooks
the guard plugs into every call."""

from chatgate.upstream.client import UpstreamClient, init_app, upstream_client
from chatgate.upstream.hooks import Call, CallHook
from chatgate.upstream.stream import StreamEvent, UpstreamStream

__all__ = ["Call", "CallHook", "StreamEvent", "UpstreamClient", "UpstreamStream", "init_app", "upstream_client"]
