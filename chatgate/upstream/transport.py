"""A lean HTTP/1.1 transport for the SDK's httpx client: keep-alive connections from `http.client`.

The SDK stays the one door to the upstream (auth, error classes, the request it builds); only the
bytes move cheaper. httpx's own transport (httpcore) costs about a third of a proxied call's CPU:
per-request pool bookkeeping, a readiness poll of every idle connection, and several layers of
wrappers per chunk read. Here a request takes an idle connection (or opens one), writes the
request, and hands back the socket's response, read one chunk at a time as it arrives.

Failures become httpx's exceptions, so the SDK turns them into its own as before: a connect or
read deadline into `APITimeoutError`, anything else on the wire into `APIConnectionError`.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator

import httpx2

_CHUNK = 65536
_MAX_IDLE = 256  # per upstream host and worker: more than the streams a worker holds at once is waste
# As httpx: a connection idle longer than this is closed, not reused. Servers close idle ones on their own clock;
# reusing one they are closing at that moment can lose the request after it was written.
_KEEP_IDLE = 5.0


def _stale(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection that is readable was closed by the server (or sent garbage)."""
    if connection.sock is None:
        return True
    poller = select.poll()  # the real one: gevent_worker leaves `select` unpatched, and this never blocks
    poller.register(connection.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def origin_of(url: httpx2.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`, the key of its pool of connections."""
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


Headers = Iterable[tuple[str | bytes, str | bytes]]  # a request's headers, in order, as sent


class LeanTransport(httpx2.BaseTransport):
    """Sends each request over a pooled `http.client` connection; safe across threads and greenlets."""

    def __init__(self, keep_idle: float = _KEEP_IDLE) -> None:
        self.keep_idle = keep_idle
        # Per origin, the idle connections with the time each was given back; the newest last, taken first.
        self._idle: dict[tuple[str, str, int], list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = request.extensions.get("timeout") or {}
        target = request.url.raw_path.decode("ascii")
        return self.exchange(
            origin_of(request.url),
            request.method,
            target,
            request.headers.raw,
            request.read(),
            timeouts.get("connect"),
            timeouts.get("read"),
        )

    def exchange(
        self,
        origin: tuple[str, str, int],
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> httpx2.Response:
        """Send one request (its headers as (name, value) pairs, Host and Content-Length among them) and return
        the response as soon as its head has arrived, its body to be read as it comes."""
        connection, reused = self._connection(origin, connect_timeout)
        while True:
            try:
                response = self._send(connection, method, target, headers, body, read_timeout)
                break
            except _WriteFailed as failed:
                if not reused:
                    raise failed.error from failed.__cause__
            # The server closed the idle connection as we wrote: nothing reached it, so send once more, afresh.
            connection, reused = self._connection(origin, connect_timeout, reuse=False)
        return httpx2.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_ResponseBody(self, origin, connection, response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1", "replace")},
        )

    @staticmethod
    def _send(
        connection: http.client.HTTPConnection,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        read_timeout: float | None,
    ) -> http.client.HTTPResponse:
        try:
            connection.sock.settimeout(read_timeout)
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(body or None)
        except Exception as exc:
            connection.close()
            raise _WriteFailed(_as_httpx(exc, reading=False)) from exc
        try:
            return connection.getresponse()
        except Exception as exc:
            connection.close()
            raise _as_httpx(exc, reading=True) from exc

    def _connection(
        self, origin: tuple[str, str, int], connect_timeout: float | None, reuse: bool = True
    ) -> tuple[http.client.HTTPConnection, bool]:
        while reuse:
            with self._lock:
                idle = self._idle.get(origin)
                connection, since = idle.pop() if idle else (None, 0.0)
            if connection is None:
                break
            if time.monotonic() - since < self.keep_idle and not _stale(connection):
                return connection, True
            connection.close()
        scheme, host, port = origin
        if scheme == "https":
            if self._tls is None:  # the authorities httpx trusts: SSL_CERT_FILE or SSL_CERT_DIR, else the system's
                self._tls = httpx2.create_ssl_context()
            connection = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            connection.connect()
        except Exception as exc:
            connection.close()
            raise _as_httpx(exc, reading=False) from exc
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, False

    def give_back(self, origin: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < _MAX_IDLE:
                idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for connection, _ in idle:
                connection.close()


class _ResponseBody(httpx2.SyncByteStream):
    """The response's body as it arrives; the connection goes back to the pool once it is read to its end."""

    def __init__(
        self,
        transport: LeanTransport,
        origin: tuple[str, str, int],
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ):
        self._transport, self._origin = transport, origin
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self._finished = False
        self._reading = False  # inside recv: then only the reader may close the response's file

    def __iter__(self) -> Iterator[bytes]:
        read = self._response.read1
        try:
            while True:
                self._reading = True
                try:
                    chunk = read(_CHUNK)
                finally:
                    self._reading = False
                if not chunk:
                    break
                yield chunk
        except Exception as exc:
            raise _as_httpx(exc, reading=True) from exc
        self._finished = True

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not self._response.will_close and (self._finished or self._rest_is_here(connection)):
            self._response.close()  # its file only: the socket stays with the connection
            self._transport.give_back(self._origin, connection)
            return
        # Read only in part (a stream stopped, perhaps from another thread while its reader waits in recv), or
        # the server closes it: shut the socket first, which wakes that reader, and never reuse it.
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        if not self._reading:
            self._response.close()
        connection.close()

    def _rest_is_here(self, connection: http.client.HTTPConnection) -> bool:
        """Whether the rest of the body has already arrived, and is now read: most often a stream read up to
        its `data: [DONE]`, whose last, empty chunk follows it. What has not arrived is not waited for."""
        if self._reading or connection.sock is None:
            return False
        connection.sock.settimeout(0)  # what is in the buffer or the socket now, and nothing more
        try:
            while self._response.read1(_CHUNK):
                pass
        except (OSError, ValueError, http.client.HTTPException):
            return False
        return self._response.isclosed()


class _WriteFailed(Exception):
    """The request could not be written: the server cannot have acted on it."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _as_httpx(exc: Exception, reading: bool) -> Exception:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return httpx2.ReadTimeout(str(exc)) if reading else httpx2.ConnectTimeout(str(exc))
    if isinstance(exc, (http.client.HTTPException, ValueError)):
        return httpx2.RemoteProtocolError(str(exc) or type(exc).__name__)
    message = str(exc) or type(exc).__name__
    return httpx2.ReadError(message) if reading else httpx2.ConnectError(message)
