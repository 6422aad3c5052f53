"""The one door to the upstream: the only module that imports `openai`.

It builds one SDK client per worker process (lazily, so that gevent's monkey
patching comes first), applies the catalogue's model quirks, and turns every
SDK and transport failure into our own `ApiError`s. Bodies are fetched through
the SDK (auth, retries, timeouts, error classes) but decoded with orjson rather
than into SDK models: that parsing costs more CPU than the whole HTTP call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx2
import openai
import orjson
from flask import Flask, current_app

from config import Settings
from errors import (
    ApiError,
    BadRequest,
    NotConfigured,
    RateLimited,
    Unauthorized,
    UpstreamFailed,
    UpstreamTimeout,
    redact,
)
from models import Catalogue

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}
_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"
_SSE_OTHER_FIELDS = (":", "event:", "id:", "retry:")


class StreamEvent:
    """One upstream SSE event: its raw JSON bytes and the decoded chunk."""

    __slots__ = ("raw", "chunk")

    def __init__(self, raw: bytes, chunk: dict):
        self.raw = raw
        self.chunk = chunk

    @property
    def content(self) -> str:
        choices = self.chunk.get("choices") or ()
        return "".join((c.get("delta") or {}).get("content") or "" for c in choices)

    @property
    def usage(self) -> dict | None:
        return self.chunk.get("usage")

    @property
    def finished(self) -> bool:
        return any(c.get("finish_reason") for c in self.chunk.get("choices") or ())


class CallObserver:
    """Told about every upstream chat call: for limits, the usage ledger and metrics.

    Each method is a no-op here; an observer overrides what it needs.
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


def estimate_tokens(characters: int) -> int:
    """A rough token count for text the upstream never counted (about four characters a token)."""
    return max(1, round(characters / 4)) if characters else 0


class UpstreamStream:
    """An open upstream stream whose first event has already been read.

    Iterating yields `StreamEvent`s; a cut, a timeout or garbage raises an ApiError.
    A stream that ends before any choice finished is a failure too. `close()`
    closes the upstream connection at once, and reports the usage exactly once:
    the upstream's figures when it sent them, else an estimate marked as such.
    """

    def __init__(self, response: httpx2.Response, timeout: float, payload: dict,
                 observers: tuple[CallObserver, ...] = ()):
        self._response = response
        self._timeout = timeout
        self._lines = response.iter_lines()
        self._payload = payload
        self._observers = observers
        self._closed = False
        self._completion_chars = 0
        self.finished = False
        self.usage: dict | None = None
        self.headers = response.headers
        for observer in observers:
            observer.on_stream_open()
        self._first = self._next_event()
        if self._first is None:
            self.close()
            raise UpstreamFailed("The upstream ended the stream without sending any event.")

    def __iter__(self) -> Iterator[StreamEvent]:
        event = self._first
        self._first = None
        while event is not None:
            yield event
            event = self._next_event()
        if not self.finished:
            raise UpstreamFailed("The upstream stream ended before the reply was finished.")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._response.close()
        if self._observers:
            self._report_usage()
            for observer in self._observers:
                observer.on_stream_close()

    def _report_usage(self) -> None:
        model = self._payload.get("model", "")
        if self.usage:
            usage, estimated = self.usage, False
        else:
            prompt_chars = sum(len(str(m.get("content") or "")) for m in self._payload.get("messages") or ()
                               if isinstance(m, dict))
            prompt, completion = estimate_tokens(prompt_chars), estimate_tokens(self._completion_chars)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            estimated = True
        for observer in self._observers:
            observer.on_usage(model, usage, estimated)

    def _next_event(self) -> StreamEvent | None:
        try:
            for line in self._lines:
                if not line.startswith("data:"):
                    if line and not line.startswith(_SSE_OTHER_FIELDS):
                        raise UpstreamFailed("The upstream answered with something that is not an event stream.")
                    continue  # blank separators, comments and other SSE fields
                data = line[5:].strip().encode()
                if data == _DONE:
                    return None
                event = StreamEvent(data, _decode(data))
                if event.usage:
                    self.usage = event.usage
                if event.finished:
                    self.finished = True
                if self._observers:
                    self._completion_chars += len(event.content)
                return event
            return None
        except httpx2.TimeoutException:
            self.close()
            raise UpstreamTimeout(f"The upstream stopped sending for more than {self._timeout:g} s.") from None
        except httpx2.HTTPError:
            self.close()
            raise UpstreamFailed("The upstream connection was cut in the middle of the reply.") from None
        except ApiError:
            self.close()
            raise


def _decode(data: bytes) -> dict:
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamFailed("The upstream answered with something that is not valid JSON.") from None
    if not isinstance(decoded, dict):
        raise UpstreamFailed("The upstream answered with JSON that is not an object.")
    return decoded


class ChatClient:
    """Chat completions against the configured upstream, with our errors and quirks."""

    def __init__(self, settings: Settings, catalogue: Catalogue):
        self.settings = settings
        self.catalogue = catalogue
        self._sdk: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self.observers: tuple[CallObserver, ...] = ()

    def observe(self, observer: CallObserver) -> None:
        """Tell `observer` about every chat call from now on."""
        self.observers += (observer,)

    @property
    def sdk(self) -> openai.OpenAI:
        # Built on first use, inside the worker: a client made before gevent patches
        # the socket module breaks TLS.
        if self._sdk is None:
            with self._lock:
                if self._sdk is None:
                    self._sdk = openai.OpenAI(
                        api_key=self.settings.openai_api_key or "no-server-key",
                        base_url=self.settings.openai_base_url,
                        timeout=self.settings.upstream_timeout,
                        max_retries=self.settings.upstream_max_retries,
                    )
        return self._sdk

    def adapt(self, payload: dict) -> dict:
        """Apply the requested model's quirks (models outside the catalogue pass as they are)."""
        model = payload.get("model")
        return self.catalogue.spec(model).adapt(payload) if model in self.catalogue else payload

    def complete(self, payload: dict, api_key: str | None = None) -> dict:
        """Send a chat completion and return the upstream's decoded JSON answer."""
        body = self.adapt(payload)
        started = time.perf_counter()
        response = self._post(body, api_key, stream=False)
        answer = _decode(response.content)
        if self.observers:
            model = body.get("model", "")
            for observer in self.observers:
                observer.on_response(model, time.perf_counter() - started, False)
                if isinstance(answer.get("usage"), dict):
                    observer.on_usage(model, answer["usage"], False)
        return answer

    def stream(self, payload: dict, api_key: str | None = None) -> UpstreamStream:
        """Open a streamed chat completion and read its first event before returning."""
        body = {**self.adapt(payload), "stream": True}
        started = time.perf_counter()
        response = self._post(body, api_key, stream=True)
        try:
            stream = UpstreamStream(response, self.settings.upstream_timeout, body, self.observers)
        except BaseException:
            response.close()
            raise
        for observer in self.observers:
            observer.on_response(body.get("model", ""), time.perf_counter() - started, True)
        return stream

    def list_models(self, api_key: str | None = None) -> list[dict]:
        """List the upstream's models: the cheap call that proves a key works."""
        try:
            response = self.sdk.get("/models", cast_to=httpx2.Response,
                                    options={"headers": self._auth_header(api_key)})
        except openai.APIError as exc:
            raise self._translate(exc, client_key=api_key is not None) from None
        return _decode(response.content).get("data") or []

    def _auth_header(self, api_key: str | None) -> dict:
        if api_key is not None:
            return {"Authorization": f"Bearer {api_key}"}
        if not self.settings.openai_api_key:
            raise NotConfigured("No upstream API key is configured: set OPENAI_API_KEY_CYB_SEC "
                                "(or OPENAI_API_KEY) and restart the service.")
        return {}

    def _post(self, body: dict, api_key: str | None, stream: bool) -> httpx2.Response:
        headers = {**_JSON_HEADERS, **self._auth_header(api_key)}
        for observer in self.observers:
            observer.before_call(body)
        if self.settings.log_message_contents:
            log.info("upstream request body: %s", orjson.dumps(body.get("messages")).decode())
        try:
            return self.sdk.post("/chat/completions", cast_to=httpx2.Response, content=orjson.dumps(body),
                                 options={"headers": headers}, stream=stream)
        except openai.APIError as exc:
            raise self._translate(exc, client_key=api_key is not None) from None

    def _translate(self, exc: openai.APIError, client_key: bool) -> ApiError:
        if isinstance(exc, openai.APITimeoutError):
            return UpstreamTimeout(f"The upstream did not answer within {self.settings.upstream_timeout:g} s.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamFailed("The upstream could not be reached.")
        if not isinstance(exc, openai.APIStatusError):
            return UpstreamFailed("The upstream's answer could not be understood.")
        upstream = _upstream_error_fields(exc)
        detail = redact(upstream.get("message") or f"status {exc.status_code}")
        fields = {"code": upstream.get("code"), "param": upstream.get("param"), "type": upstream.get("type")}
        status = exc.status_code
        if status == 429:
            retry_after = exc.response.headers.get("retry-after")
            return RateLimited(f"The upstream is rate limiting requests: {detail}",
                               headers={"Retry-After": retry_after} if retry_after else None, **fields)
        if status in (401, 403):
            if client_key:
                return Unauthorized(f"The upstream rejected the API key: {detail}", status=status, **fields)
            return UpstreamFailed(f"The upstream rejected the server's API key: {detail}")
        if status in (400, 404, 409, 413, 422):
            return BadRequest(f"The upstream rejected the request: {detail}", status=status, **fields)
        return UpstreamFailed(f"The upstream failed with status {status}: {detail}")


def _upstream_error_fields(exc: openai.APIStatusError) -> dict:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return {}
    fields = ("message", "type", "code", "param")
    return {k: (str(v) if v is not None else None) for k, v in body.items() if k in fields}


def init_app(app: Flask, settings: Settings, catalogue: Catalogue) -> None:
    """Give the app its one shared chat client."""
    app.extensions["chat_client"] = ChatClient(settings, catalogue)


def chat_client() -> ChatClient:
    """The current app's shared chat client."""
    return current_app.extensions["chat_client"]
