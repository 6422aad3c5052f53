"""Where this process is in its life: serving, or shutting down (readiness says so, so a balancer stops
sending new requests while open streams finish)."""

from __future__ import annotations

import signal
import threading

_shutting_down = threading.Event()


def shutting_down() -> bool:
    return _shutting_down.is_set()


def mark_shutting_down() -> None:
    _shutting_down.set()


def watch_stop_signals(handler) -> None:
    """Call `mark_shutting_down` before `handler` when SIGTERM or SIGINT arrives (gunicorn's graceful stop)."""

    def noted(signum, frame):
        mark_shutting_down()
        handler(signum, frame)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, noted)
