"""The one door to the upstream: the chat client (the only importer of `openai`), its streams, and the hooks
the guard plugs into every call."""

from upstream.client import ChatClient, chat_client, init_app
from upstream.hooks import Call, CallHook
from upstream.stream import StreamEvent, UpstreamStream

__all__ = ["Call", "CallHook", "ChatClient", "StreamEvent", "UpstreamStream", "chat_client", "init_app"]
