"""Gunicorn's gevent worker with the `select` module left unpatched."""

from __future__ import annotations

import socket

from gevent import monkey
from gunicorn.workers.ggevent import GeventWorker


class GeventWorkerWithRealSelect(GeventWorker):
    """Like `gevent`, but `select.poll` stays the operating system's.

    httpcore checks every idle pooled upstream connection with a zero-timeout
    `select.poll()` before each request, and again when a response closes.
    gevent's cooperative poll turns each check into hub watchers: a quarter of a
    /chat request's CPU under 32 concurrent callers (py-spy). A zero-timeout poll
    never blocks, so the real one is safe, and nothing else here selects on a socket
    (sockets, DNS and sleeps stay patched).
    """

    def patch(self):
        monkey.patch_all(select=False)
        # What GeventWorker.patch does after patching (as of gunicorn 27.0.1): re-wrap the listening sockets.
        self.sockets = [socket.socket(s.FAMILY, socket.SOCK_STREAM, fileno=s.sock.detach()) for s in self.sockets]
