"""Buffers of resumable streams, in the shared store (Redis Streams with REDIS_URL, else SQLite), so that any
worker of any instance can resume or stop a stream that another one is generating."""

from __future__ import annotations

from flask import Flask, current_app

from config import Settings
from streams.buffer import RedisStreamBuffer, SQLiteStreamBuffer, StreamBuffer

_KEY = "stream_buffer"


def init_app(app: Flask, settings: Settings) -> StreamBuffer:
    """Give the app its stream buffer (it touches no file or server before its first use)."""
    buffer = app.extensions[_KEY] = (RedisStreamBuffer(settings.redis_url, settings.stream_retention)
                                     if settings.redis_url else
                                     SQLiteStreamBuffer(settings.session_db_path, settings.stream_retention))
    return buffer


def stream_buffer() -> StreamBuffer:
    """The current app's stream buffer."""
    return current_app.extensions[_KEY]


__all__ = ["StreamBuffer", "init_app", "stream_buffer"]
