"""The floor: the least a Python relay on this server can cost, to measure the service against in the same run.

Two relays that forward a request's body, as it came, to the upstream's /chat/completions over
pooled keep-alive `http.client` connections, and its answer back (plain, or streamed chunk by
chunk as it arrives). No validation, no limits, no ledger: what is left is the WSGI server, the
HTTP hops and, for `flask_app`, Flask's request machinery. `make bench` starts each under the
service's own gunicorn settings (`gunicorn.conf.py`, gevent, the same worker count).

    gunicorn bench.floor:flask_app   # one Flask route
    gunicorn bench.floor:wsgi_app    # one bare WSGI function

The upstream is `OPENAI_BASE_URL`, as for the service.
"""

from __future__ import annotations

import http.client
import os
import urllib.parse

from flask import Flask, Response, request

_upstream = urllib.parse.urlsplit(os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8901/v1"))
_PATH = _upstream.path.rstrip("/") + "/chat/completions"
_idle: list[http.client.HTTPConnection] = []


def _forward(body: bytes) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = _idle.pop() if _idle else http.client.HTTPConnection(_upstream.hostname, _upstream.port, timeout=60)
    connection.request("POST", _PATH, body, {"Content-Type": "application/json"})
    return connection, connection.getresponse()


def _chunks(connection: http.client.HTTPConnection, answer: http.client.HTTPResponse):
    while chunk := answer.read1():
        yield chunk
    _idle.append(connection)


def _relay(body: bytes) -> tuple[int, str, object]:
    connection, answer = _forward(body)
    kind = answer.getheader("Content-Type", "application/json")
    if kind.startswith("text/event-stream"):
        return answer.status, kind, _chunks(connection, answer)
    data = answer.read()
    _idle.append(connection)
    return answer.status, kind, data


flask_app = Flask(__name__)


@flask_app.post("/v1/chat/completions")
def relay():
    """Forward the body upstream and its answer back."""
    status, kind, data = _relay(request.get_data())
    return Response(data, status=status, content_type=kind)


def wsgi_app(environ, start_response):
    """The same relay as a bare WSGI function."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    status, kind, data = _relay(environ["wsgi.input"].read(length))
    headers = [("Content-Type", kind)]
    if isinstance(data, bytes):
        headers.append(("Content-Length", str(len(data))))
        data = [data]
    start_response(f"{status} {http.client.responses.get(status, '')}", headers)
    return data
