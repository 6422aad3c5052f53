"""Buffers of resumable streams, kept in the shared storage, so that any worker of any instance can resume or
stop a stream that another one is generating.

A stream has one producer (the worker that talks to the upstream), which appends frames numbered from 1 and
finally marks the stream finished; any number of readers read the frames after a number, waiting for new ones; a
reader's heartbeat says someone is still there, and a stop flag asks the producer to end. Everything expires
STREAM_RETENTION seconds after the stream finished. `chatgate.storage.contracts.StreamBuffer` is the contract.
"""

from __future__ import annotations

from flask import Flask, current_app

from chatgate.storage.contracts import StreamBuffer

_KEY = "stream_buffer"


def init_app(app: Flask, buffer: StreamBuffer) -> StreamBuffer:
    """Give the app its stream buffer (it touches no file or server before its first use)."""
    app.extensions[_KEY] = buffer
    return buffer


def stream_buffer() -> StreamBuffer:
    """The current app's stream buffer."""
    return current_app.extensions[_KEY]


__all__ = ["StreamBuffer", "init_app", "stream_buffer"]
