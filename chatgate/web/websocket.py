"""WebSocket connections on the server that runs the app (gunicorn's gevent worker; Werkzeug's server in
development): simple-websocket speaks the protocol on the request's own socket, once the view has accepted it.
Everything a request goes through first (who calls, how many at once, the origin) has run by then, so a refused
connection is an ordinary HTTP error, never a 101."""

from __future__ import annotations

from flask import Response, request
from simple_websocket import ConnectionClosed, Server

from chatgate.config import current_settings
from chatgate.errors import Forbidden

__all__ = ["ConnectionClosed", "Server", "accept", "handed_over"]

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008


def accept(max_message_bytes: int) -> Server:
    """Upgrade this request to a WebSocket: a browser's page must come from one of ALLOW_ORIGINS (CORS does not
    cover WebSockets; a browser sends its page's origin on the upgrade)."""
    origins = current_settings().allow_origins
    origin = request.headers.get("Origin")
    if origin is not None and "*" not in origins and origin not in origins:
        raise Forbidden(f"WebSocket connections from the origin {origin!r} are not allowed (ALLOW_ORIGINS).")
    # No ping_interval: its timer would select on the socket, and this service's gevent worker leaves `select`
    # unpatched (chatgate/gevent_worker.py); the view's own idle deadline does that job.
    return Server(request.environ, max_message_size=max_message_bytes)


def handed_over(connection: Server) -> Response:
    """What the view returns once the connection has ended: the socket was the connection's, so the server
    writes nothing more on it (gunicorn is told so by StopIteration, as flask-sock does)."""

    class HandedOver(Response):
        def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
            if connection.mode == "gunicorn":
                raise StopIteration()
            return super().__call__(environ, start_response)

    return HandedOver(status=101)
