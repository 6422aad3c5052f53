"""The upstream client: with `upstream.direct`, the only code that uses `openai`.

It builds one SDK client per upstream and worker process (lazily, so that gevent's
monkey patching comes first), applies each model's quirks, and turns every SDK and
transport failure into our own `ApiError`s. Bodies are fetched with the SDK's
requests (auth, timeouts, error classes; on the hot path the same request sent
directly, see `upstream.direct`) but decoded with orjson rather than into SDK
models: that parsing costs more CPU than the whole HTTP call.

Retries are ours, not the SDK's, because the SDK retries timeouts too: here
UPSTREAM_TIMEOUT bounds a call with all its attempts, and a call that timed out is
never sent again (the upstream may still be working on, and billing, the first).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, cast

import httpx2
import openai
import orjson
from flask import Flask, current_app

from chatgate.config import Settings, UpstreamSpec
from chatgate.errors import (
    ApiError,
    BadRequest,
    NotConfigured,
    NotFound,
    RateLimited,
    Unauthorized,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
    redact,
)
from chatgate.models import catalogue, spec_for
from chatgate.storage.contracts import FailureCounts, Rests
from chatgate.storage.records import StoredToken
from chatgate.upstream.demo import DemoTransport
from chatgate.upstream.direct import DirectPost
from chatgate.upstream.hooks import Call, CallHook, bounded_usage
from chatgate.upstream.routing import Router
from chatgate.upstream.stream import EventKind, ResponseEvents, UpstreamStream, decode_json, response_usage
from chatgate.upstream.transport import LeanTransport

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}
# Worth another attempt: the upstream was unreachable, or failed with a 5xx, before any byte of an answer.
# Not a 429: the caller gets it at once with its Retry-After and decides (its SDK retries by itself, and
# its retries multiply with ours).
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_KEY = "upstream_client"


class UpstreamClient:
    """Everything asked of the upstream (chat completions, responses, embeddings, stored responses, the model
    list), with our errors, retries and each model's quirks."""

    def __init__(
        self,
        settings: Settings,
        hooks: tuple[CallHook, ...] = (),
        request_headers: Callable[[], dict[str, str]] = dict,
        caller: Callable[[], tuple[str, StoredToken | None]] = lambda: ("unknown", None),
        answer_headers: Callable[[dict[str, str]], None] = lambda headers: None,
        router: Router | None = None,
        together: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ):
        self.settings = settings
        self.router = router or Router(settings)
        self.hooks = hooks
        self._request_headers = request_headers  # sent with every call (our request id, for tracing)
        self._caller = caller  # who makes the call, and under which policy: each Call carries them
        self._answer_headers = answer_headers  # takes what the hooks add to the caller's answer
        self._together = together  # the storage writes of what the hooks are told go together
        self._auto_upstreams = [upstream for upstream in self.router.upstreams if upstream.models_auto]
        self._listed_at = float("-inf")  # when the auto upstreams' own lists were last read
        self._sdks: dict[str, openai.OpenAI] = {}
        self._direct: dict[str, DirectPost | None] = {}
        self._lock = threading.Lock()

    def sdk_for(self, upstream: UpstreamSpec) -> openai.OpenAI:
        """The SDK client of one upstream: OpenAI's for OpenAI and OpenAI-compatible servers, AzureOpenAI's (its
        api-key header and api-version query) for Azure."""
        # Built on first use, inside the worker: a client made before gevent patches the socket module breaks TLS.
        sdk = self._sdks.get(upstream.name)
        if sdk is None:
            with self._lock:
                sdk = self._sdks.get(upstream.name)
                if sdk is None:
                    sdk = self._new_sdk(upstream)
                    self._direct[upstream.name] = DirectPost.for_sdk(sdk)
                    self._sdks[upstream.name] = sdk
        return sdk

    def _new_sdk(self, upstream: UpstreamSpec) -> openai.OpenAI:
        lean = self.settings.upstream_transport == "lean"
        api_key, timeout = upstream.api_key or "no-server-key", self.settings.upstream_timeout
        # A proxy from the environment still gets httpx's transport: httpx mounts it first.
        http_client = openai.DefaultHttpxClient(transport=LeanTransport()) if lean else None
        if upstream.kind == "demo":  # answered by its transport, offline
            http_client = openai.DefaultHttpxClient(transport=DemoTransport(), trust_env=False)  # no proxy either
        elif upstream.kind == "azure":  # max_retries=0: see the module's docstring
            return openai.AzureOpenAI(
                azure_endpoint=upstream.base_url or "",
                api_version=upstream.api_version,
                api_key=api_key,
                timeout=timeout,
                max_retries=0,
                http_client=http_client,
            )
        return openai.OpenAI(
            base_url=upstream.base_url, api_key=api_key, timeout=timeout, max_retries=0, http_client=http_client
        )

    @property
    def sdk(self) -> openai.OpenAI:
        """The first upstream's SDK client (the only one without UPSTREAMS_FILE)."""
        return self.sdk_for(self.router.upstreams[0])

    def complete(self, payload: dict[str, Any], api_key: str | None = None) -> dict[str, Any]:
        """Send a chat completion and return the upstream's decoded JSON answer."""
        call = self._call(spec_for(payload.get("model", "")).adapt(payload))
        return self._answer("/chat/completions", call, api_key, lambda answer: answer.get("usage"))

    def respond(self, payload: dict[str, Any], api_key: str | None = None, carried_tokens: int = 0) -> dict[str, Any]:
        """Create a response with the Responses API and return the upstream's decoded JSON answer; a stored
        response it continues brings `carried_tokens` to its prompt."""
        call = self._call(spec_for(payload.get("model", "")).adapt_response(payload), "responses", carried_tokens)
        return self._answer("/responses", call, api_key, response_usage)

    def embed(self, payload: dict[str, Any], api_key: str | None = None) -> dict[str, Any]:
        """Create embeddings and return the upstream's decoded JSON answer."""
        call = self._call(payload, "embeddings")
        return self._answer("/embeddings", call, api_key, lambda answer: answer.get("usage"))

    def _answer(
        self, path: str, call: Call, api_key: str | None, usage_of: Callable[[dict[str, Any]], object]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        response = self._post(path, call, api_key, stream=False)
        try:
            answer = decode_json(response.content)
        except ApiError:
            self._tell("on_error", call, "bad_answer")
            self._tell("on_failure", call)
            raise
        for hook in self.hooks:
            hook.on_response(call, time.perf_counter() - started, False)
        usage = usage_of(answer)
        if isinstance(usage, dict):
            self._tell("on_usage", call, bounded_usage(usage), False)
        else:  # an upstream that reports no usage (some local servers) is metered by estimate
            reply = answer.get("choices") or answer.get("output") or ""
            self._tell("on_usage", call, call.estimated_usage(len(str(reply))), True)
        return answer

    def stream(self, payload: dict[str, Any], api_key: str | None = None) -> UpstreamStream:
        """Open a streamed chat completion and read its first event before returning.

        The upstream is always asked for usage, so that the ledger and the token limit
        count real figures; surfaces whose clients did not ask drop that last chunk.
        """
        stream_options = {**payload.get("stream_options", {}), "include_usage": True}
        adapted = spec_for(payload.get("model", "")).adapt(payload)
        return self._stream(
            "/chat/completions", self._call({**adapted, "stream": True, "stream_options": stream_options}), api_key
        )

    def stream_response(
        self, payload: dict[str, Any], api_key: str | None = None, carried_tokens: int = 0
    ) -> UpstreamStream:
        """Open a streamed Responses API call and read its first event before returning."""
        adapted = spec_for(payload.get("model", "")).adapt_response(payload)
        call = self._call({**adapted, "stream": True}, "responses", carried_tokens)
        return self._stream("/responses", call, api_key, ResponseEvents)

    def _stream(self, path: str, call: Call, api_key: str | None, kind: EventKind | None = None) -> UpstreamStream:
        started = time.perf_counter()
        response = self._post(path, call, api_key, stream=True)
        try:
            stream = UpstreamStream(
                response,
                self.settings.upstream_timeout,
                call,
                self.hooks,
                **({"kind": kind} if kind else {}),
                together=self._together,
            )
        except BaseException:
            response.close()  # the stream reported its usage (an estimate) as it closed
            raise
        for hook in self.hooks:
            hook.on_response(call, time.perf_counter() - started, True)
        return stream

    def stored(
        self, method: str, path: str, api_key: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Relay a call on something an upstream keeps (a stored response): it costs nothing, so no hook is told.
        With several upstreams it is asked of each that could have made it, until one knows it."""
        candidates = self._taking(api_key)
        for index, upstream in enumerate(candidates):
            sdk = self.sdk_for(upstream)
            senders: dict[str, Callable[..., Any]] = {"GET": sdk.get, "POST": sdk.post, "DELETE": sdk.delete}
            send = senders[method]
            options = {"headers": self._auth_header(upstream, api_key), "params": params or {}}
            try:
                return decode_json(send(path, cast_to=httpx2.Response, options=options).content)
            except openai.APIError as exc:
                if not isinstance(exc, openai.NotFoundError) or index == len(candidates) - 1:
                    raise self._translate(exc, client_key=api_key is not None) from None
        raise AssertionError("unreachable")  # the last candidate returns or raises

    def list_models(self, api_key: str | None = None) -> list[dict[str, Any]]:
        """List an upstream's models: the cheap call that proves a key works (the first upstream that takes a
        caller's key, for one)."""
        return self._models_of(self._taking(api_key)[0], api_key)

    def _taking(self, api_key: str | None) -> list[UpstreamSpec]:
        """The upstreams a call with this key may go to: a caller's own key goes only where client_keys says."""
        candidates = self.router.serving_anything(api_key is not None)
        if not candidates:
            raise BadRequest("Client keys are not accepted: no upstream of this service takes your own API key.")
        return candidates

    def _models_of(self, upstream: UpstreamSpec, api_key: str | None = None) -> list[dict[str, Any]]:
        try:
            response = self.sdk_for(upstream).get(
                "/models", cast_to=httpx2.Response, options={"headers": self._auth_header(upstream, api_key)}
            )
        except openai.APIError as exc:
            raise self._translate(exc, client_key=api_key is not None) from None
        return decode_json(response.content).get("data") or []

    def _auth_header(self, upstream: UpstreamSpec, api_key: str | None) -> dict[str, Any]:
        if api_key is not None:
            return {"api-key": api_key} if upstream.kind == "azure" else {"Authorization": f"Bearer {api_key}"}
        if not upstream.api_key and not self.router.several:
            raise NotConfigured(
                "No upstream API key is configured: set OPENAI_API_KEY_CYB_SEC "
                "(or OPENAI_API_KEY) and restart the service."
            )
        return {}

    def _call(self, payload: dict[str, Any], kind: str = "chat", carried_tokens: int = 0) -> Call:
        caller, policy = self._caller()
        return Call(payload, kind, caller, policy, carried_tokens)

    def _tell(self, event: str, call: Call, *args: object) -> None:
        with self._together():
            for hook in self.hooks:
                getattr(hook, event)(call, *args)

    def _admit(self, call: Call) -> None:
        """Ask every hook; when one refuses, those that already agreed let the call go. The headers the hooks
        add go to the caller's answer (a refusal carries its own)."""
        added: dict[str, str] = {}
        try:
            for index, hook in enumerate(self.hooks):
                try:
                    added.update(hook.before_call(call) or {})
                except BaseException:
                    for earlier in self.hooks[:index]:
                        earlier.on_failure(call)
                    raise
        finally:
            if added:
                self._answer_headers(added)

    def model_ids(self) -> list[str]:
        """The ids of the upstreams' models, with their own keys (for MODELS=auto): every upstream's list, once."""
        ids: dict[str, None] = {}
        for upstream in self.router.upstreams:
            if upstream.models is not None and not upstream.models_auto:
                ids.update(dict.fromkeys(upstream.models))
                continue
            listed = self._listed_by(upstream)
            ids.update(dict.fromkeys(listed))
        self._listed_at = time.monotonic()
        return list(ids)

    def _listed_by(self, upstream: UpstreamSpec) -> list[str]:
        """The ids of an upstream's own list; for a `models = "auto"` upstream, what it serves from now on."""
        listed = self._models_of(upstream)
        ids = [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if upstream.models_auto:
            self.router.listed[upstream.name] = frozenset(ids)
        return ids

    def _refresh_auto_lists(self) -> None:
        """Read each `models = "auto"` upstream's list again when MODELS_REFRESH has passed (an upstream that
        cannot say keeps its last list, or serves nothing before its first)."""
        if time.monotonic() - self._listed_at < self.settings.models_refresh:
            return
        with self._lock:
            if time.monotonic() - self._listed_at < self.settings.models_refresh:
                return
            self._listed_at = time.monotonic()
        for upstream in self._auto_upstreams:
            try:
                self._listed_by(upstream)
            except ApiError as error:
                log.warning("the model list of upstream %s could not be read: %s", upstream.name, error.message)

    def _post(self, path: str, call: Call, api_key: str | None, stream: bool) -> httpx2.Response:
        client_key = api_key is not None
        if self._auto_upstreams:
            self._refresh_auto_lists()
        if not any(self.router.serving(model, client_key) for model in self.router.chain(call.model)):
            raise (
                BadRequest(  # before the hooks: nothing is reserved for a call that can go nowhere
                    f"No upstream that takes your own API key serves the model {call.model!r}.", param="model"
                )
                if client_key
                else NotFound(f"No upstream serves the model {call.model!r}.", param="model")
            )
        self._auth_header(self.router.upstreams[0], api_key)  # no key at all: 503 before the hooks
        self._admit(call)
        if self.settings.log_message_contents:
            log.info("upstream request body: %s", orjson.dumps(call.payload.get("messages")).decode())
        return self._send_with_failover(path, call, stream, api_key)

    def _send_with_failover(self, path: str, call: Call, stream: bool, api_key: str | None) -> httpx2.Response:
        """Send to the upstreams of the call's model, then of its fallback models, until one answers.

        A connection error, a 5xx or a 429 before any byte moves the call to another upstream (the
        same one again, after a pause, when it is the only one: but never after a 429); each model
        has UPSTREAM_MAX_RETRIES further attempts, all within UPSTREAM_TIMEOUT. A timeout is never
        sent again (the upstream may still be working, and billing), unless its upstream says
        failover_on_timeout. A failure tells the hooks and becomes our own error.
        """
        deadline = time.monotonic() + self.settings.upstream_timeout
        requested, last = call.model, cast(openai.APIError | None, None)
        # What happens on a caller's own key is that caller's: it never rests a shared upstream. Each upstream
        # is told of one failure per call, however often the call tried it.
        outcomes = _Outcomes(self.router, shared=api_key is None)
        for model in self.router.chain(requested):
            plan = self.router.plan(model, api_key is not None)
            if not plan:  # every upstream of it rests
                continue
            if model != call.model and not self._fall_back(call, model):
                continue
            content = orjson.dumps(call.payload)
            for attempt, upstream in enumerate(self.router.attempts(plan, self.settings.upstream_max_retries + 1)):
                call.upstream = upstream.name
                started = time.perf_counter()
                try:
                    # An upstream whose timeout may be failed over gets half the time left, so the next one gets
                    # the other half.
                    share = 0.5 if upstream.failover_on_timeout and len(plan) > 1 else 1.0
                    response = self._send(upstream, path, content, stream, api_key, deadline, share)
                except openai.APITimeoutError as exc:
                    self._tell("on_attempt", call, "timeout", time.perf_counter() - started)
                    outcomes.failed(upstream)
                    if not upstream.failover_on_timeout or len(plan) == 1 or time.monotonic() >= deadline:
                        self._timed_out(call, path)
                    last = exc
                    continue
                except openai.APIError as exc:
                    self._tell("on_attempt", call, _cause_of(exc), time.perf_counter() - started)
                    if _request_too_large(exc) or not (_worth_retrying(exc) or _cause_of(exc) == "rate_limited"):
                        self._failed(call, path, exc, api_key is not None)  # the request itself is wrong
                    last = exc
                    if not self._move_on(exc, upstream, call.model, plan, attempt, deadline, outcomes):
                        break
                    continue
                self._tell("on_attempt", call, "ok", time.perf_counter() - started)
                outcomes.succeeded(upstream)
                if call.model != requested:
                    self._answer_headers({"X-Fallback-Model": call.model})
                return response
        self._failed(call, path, last, api_key is not None)

    def _send(
        self,
        upstream: UpstreamSpec,
        path: str,
        content: bytes,
        stream: bool,
        api_key: str | None,
        deadline: float,
        share: float = 1.0,
    ) -> httpx2.Response:
        if upstream.kind == "azure" and path in ("/chat/completions", "/embeddings"):
            path = f"/deployments/{upstream.deployment(_model_of(content))}{path}"
        headers = {**self._request_headers(), **self._auth_header(upstream, api_key)}
        timeout = max(0.001, share * (deadline - time.monotonic()))
        sdk = self.sdk_for(upstream)
        if (direct := self._direct[upstream.name]) is not None:
            return direct.post(path, content, stream, headers, timeout)
        return sdk.post(
            path,
            cast_to=httpx2.Response,
            content=content,
            stream=stream,
            options={"headers": {**_JSON_HEADERS, **headers}, "timeout": timeout},
        )

    def _move_on(
        self,
        exc: openai.APIError,
        upstream: UpstreamSpec,
        model: str,
        plan: list[UpstreamSpec],
        attempt: int,
        deadline: float,
        outcomes: _Outcomes,
    ) -> bool:
        """Whether a failed attempt goes on to another: tell the router (a 429 rests the model there), and pause
        before trying the only one again."""
        rate_limited = isinstance(exc, openai.APIStatusError) and exc.status_code == 429
        if isinstance(exc, openai.APIStatusError) and rate_limited:
            outcomes.rate_limited(upstream, model, _retry_after(exc))
        else:
            outcomes.failed(upstream)
        if len(plan) > 1:
            return time.monotonic() < deadline
        pause = min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)
        if rate_limited or time.monotonic() + pause >= deadline:
            return False  # a 429 goes back to the caller with its Retry-After: its SDK retries by itself
        log.warning("upstream attempt %d failed (%s); trying again in %.1f s", attempt + 1, type(exc).__name__, pause)
        time.sleep(pause)
        return True

    def _fall_back(self, call: Call, model: str) -> bool:
        """Move the call to a fallback model, with that model's quirks, when it passes every check a requested
        model passes: the catalogue, then every hook again (the token's models, the model's own price and a
        reservation at it), what was reserved for the earlier model given back first. Whether it moved."""
        offered = catalogue()
        if model not in (offered.embedding_names if call.kind == "embeddings" else offered.names):
            log.warning("fallback %s for %s is not in the catalogue: skipped", model, call.model)
            return False
        for hook in self.hooks:
            hook.on_failure(call)  # gives back what the earlier model reserved
        earlier, earlier_payload, payload = call.model, call.payload, {**call.payload, "model": model}
        spec = spec_for(model)
        call.payload = spec.adapt_response(payload) if call.kind == "responses" else spec.adapt(payload)
        call.model = model
        try:
            self._admit(call)
        except ApiError as refusal:
            log.warning("fallback %s for %s refused: %s", model, earlier, refusal.message)
            call.model, call.payload = earlier, earlier_payload  # what the call's failure will name
            return False
        log.warning("every upstream of %s failed or rests: falling back to %s", earlier, model)
        return True

    def _timed_out(self, call: Call, path: str) -> NoReturn:
        # The upstream may have done, and billed, the work: meter an estimate, and never send it again.
        self._tell("on_error", call, "timeout")
        self._tell("on_usage", call, call.estimated_usage(), True)
        log.warning("upstream %s timed out after %g s%s", path, self.settings.upstream_timeout, self._where(call))
        raise self._translate_timeout() from None

    def _where(self, call: Call, request_id: str | None = None) -> str:
        """Which upstream, for a log line: named when there are several (never its URL or its key)."""
        named = [f"upstream {call.upstream}"] if self.router.several and call.upstream else []
        told = named + ([f"upstream request id {request_id}"] if request_id is not None else [])
        return f" [{', '.join(told)}]" if told else ""

    def _failed(self, call: Call, path: str, last: openai.APIError | None, client_key: bool) -> NoReturn:
        """End the call with the last upstream's failure, or, when it was asked of none, the 503 of rest."""
        if isinstance(last, openai.APITimeoutError):
            self._timed_out(call, path)
        cause = _cause_of(last) if last is not None else "resting"
        self._tell("on_error", call, cause)
        self._tell("on_failure", call)
        error: ApiError
        if last is None:
            error = UpstreamUnavailable(
                f"Every upstream of {call.model!r} is resting after failures; try again in a few seconds.",
                headers={"Retry-After": "5"},
            )
        else:
            error = self._translate(last, client_key=client_key)
        request_id = _upstream_request_id(last) if last is not None else None
        log.warning("upstream %s failed (%s): %s%s", path, cause, error.message, self._where(call, request_id))
        raise error from None

    def _translate_timeout(self) -> UpstreamTimeout:
        return UpstreamTimeout(f"The upstream did not answer within {self.settings.upstream_timeout:g} s.")

    def _translate(self, exc: openai.APIError, client_key: bool) -> ApiError:
        if isinstance(exc, openai.APITimeoutError):
            return self._translate_timeout()
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamFailed("The upstream could not be reached.")
        if not isinstance(exc, openai.APIStatusError):
            return UpstreamFailed("The upstream's answer could not be understood.")
        upstream = _upstream_error_fields(exc)
        fields = {"code": upstream.get("code"), "param": upstream.get("param"), "type": upstream.get("type")}
        status = exc.status_code
        request_id = _upstream_request_id(exc)
        traced = f"upstream request id {request_id}" if request_id != "-" else ""

        def said(what: str, named_status: bool = False) -> str:
            """`what`, then the upstream's own message; without one, the status and its request id, once."""
            if upstream.get("message"):
                return f"{what}: {redact(upstream['message'])}"
            told = ([] if named_status else [f"status {status}"]) + ([traced] if traced else [])
            return f"{what} ({', '.join(told)})." if told else f"{what}."

        if status == 429:
            if _request_too_large(exc):  # it can never fit: no Retry-After invites a useless retry
                return RateLimited(said("The request is too large for the upstream's limit"), **fields)
            seconds = _retry_after(exc)
            retry_after = str(math.ceil(min(seconds, self.router.longest_rest))) if seconds is not None else None
            return RateLimited(
                said("The upstream is rate limiting requests"),
                headers={"Retry-After": retry_after} if retry_after else None,
                **fields,
            )
        if status in (401, 403):
            if client_key:
                return Unauthorized(said("The upstream rejected the API key"), status=status, **fields)
            return UpstreamFailed(said("The upstream rejected the server's API key"))
        if status in (400, 404, 409, 413, 422):
            return BadRequest(said("The upstream rejected the request"), status=status, **fields)
        return UpstreamFailed(said(f"The upstream failed with status {status}", named_status=True))


def _cause_of(exc: openai.APIError) -> str:
    if isinstance(exc, openai.APIConnectionError):
        return "unreachable"
    if not isinstance(exc, openai.APIStatusError):
        return "bad_answer"
    if exc.status_code == 429:
        return "rate_limited"
    if exc.status_code in (401, 403):
        return "rejected_key"
    return "rejected_request" if exc.status_code < 500 else "server_error"


def _model_of(content: bytes) -> str:
    return str(orjson.loads(content).get("model", ""))


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the upstream asked for: Retry-After (seconds or an HTTP date), else its x-ratelimit-reset-*
    headers; None when none of them is a finite number of seconds ahead."""
    headers = exc.response.headers
    for name in ("retry-after", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = (headers.get(name) or "").strip()
        try:
            seconds: float | None = float(value.removesuffix("s"))
        except ValueError:
            seconds = _seconds_until(value) if name == "retry-after" else None
        if seconds is not None and math.isfinite(seconds) and seconds > 0:
            return seconds
    return None


def _seconds_until(http_date: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(http_date).timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None


def _request_too_large(exc: openai.APIError) -> bool:
    """A 429 that says this request alone is over the upstream's limit (OpenAI's "Request too large"): it can
    never fit, so it is the caller's answer, never a reason to rest or to try elsewhere."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 429:
        return False
    return "request too large" in (_upstream_error_fields(exc).get("message") or "").lower()


class _Outcomes:
    """What one call tells the router: nothing on a caller's own key, and one failure per upstream."""

    def __init__(self, router: Router, shared: bool):
        self.router, self.shared = router, shared
        self._failed: set[str] = set()

    def failed(self, upstream: UpstreamSpec) -> None:
        if self.shared and upstream.name not in self._failed:
            self._failed.add(upstream.name)
            self.router.failed(upstream)

    def rate_limited(self, upstream: UpstreamSpec, model: str, seconds: float | None) -> None:
        if self.shared:
            self.router.rate_limited(upstream, model, seconds)

    def succeeded(self, upstream: UpstreamSpec) -> None:
        if self.shared:
            self.router.succeeded(upstream)


def _upstream_request_id(exc: openai.APIError) -> str:
    response = getattr(exc, "response", None)
    return (response.headers.get("x-request-id") if response is not None else None) or "-"


def _worth_retrying(exc: openai.APIError) -> bool:
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in _RETRY_STATUSES


def _event_stream_error(text: str) -> object:
    """The JSON of the first `data:` line of an error sent as an event stream, if it has one."""
    for line in text.splitlines():
        if line.startswith("data:"):
            try:
                return orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                return None
    return None


def _upstream_error_fields(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, str):  # not JSON: perhaps an event stream carrying the error, else HTML or text
        body = _event_stream_error(body)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return {}
    fields = ("message", "type", "code", "param")
    return {k: (str(v) if v is not None else None) for k, v in body.items() if k in fields}


def init_app(
    app: Flask,
    settings: Settings,
    hooks: tuple[CallHook, ...],
    request_headers: Callable[[], dict[str, str]],
    caller: Callable[[], tuple[str, StoredToken | None]],
    answer_headers: Callable[[dict[str, str]], None],
    rests: Rests,
    failures: FailureCounts,
    together: Callable[[], contextlib.AbstractContextManager[None]],
) -> UpstreamClient:
    """Give the app its one shared upstream client, which sends `request_headers()` with every call, tells
    `hooks` about each (made by `caller()`), gives what they add to the answer to `answer_headers`, keeps
    which upstreams rest in `rests` (counting their failed calls in `failures`), and sends the storage writes
    of each thing the hooks are told `together`."""
    router = Router(settings, rests, failures)
    client = app.extensions[_KEY] = UpstreamClient(
        settings, hooks, request_headers, caller, answer_headers, router, together
    )
    return client


def upstream_client() -> UpstreamClient:
    """The current app's shared upstream client."""
    return cast(UpstreamClient, current_app.extensions[_KEY])
