"""What the guard plugs into every upstream call: a hook may refuse a call before it starts."""

from __future__ import annotations


class CallHook:
    """Told about every upstream chat call: limits, the usage ledger and metrics each are one.

    Each method is a no-op here; a hook overrides what it needs. Only `before_call`
    may refuse, by raising an ApiError; the others only take note.
    """

    def before_call(self, payload: dict) -> None:
        """Called before the upstream is asked; raising an ApiError refuses the call."""

    def on_response(self, model: str, seconds: float, streaming: bool) -> None:
        """The upstream answered (for a stream: sent its first event) after `seconds`."""

    def on_usage(self, model: str, usage: dict, estimated: bool) -> None:
        """A call finished or was abandoned; `usage` has prompt and completion tokens."""

    def on_stream_open(self) -> None:
        """A stream to the upstream opened."""

    def on_stream_close(self) -> None:
        """That stream closed, finished or not."""
