"""Buffers of resumable streams, kept in the shared storage, so that any worker of any instance can resume or
stop a stream that another one is generating."""

from __future__ import annotations

from flask import Flask, current_app

from chatgate.streams.buffer import StreamBuffer

_KEY = "stream_buffer"


def init_app(app: Flask, buffer: StreamBuffer) -> StreamBuffer:
    """Give the app its stream buffer (it touches no file or server before its first use)."""
    app.extensions[_KEY] = buffer
    return buffer


def stream_buffer() -> StreamBuffer:
    """The current app's stream buffer."""
    return current_app.extensions[_KEY]


__all__ = ["StreamBuffer", "init_app", "stream_buffer"]
