"""The upstream client: what the surfaces ask of the upstream (chat completions, responses, embeddings, stored
responses, the model lists), each model's quirks applied and the hooks asked first.

The rest is each its own module's: the SDK clients (`upstream.sdk_clients`), sending until an upstream answers
(`upstream.failover`), what a failure becomes (`upstream.error_map`), the event stream (`upstream.event_stream`).
Bodies are fetched with the SDK's requests but decoded with orjson rather than into SDK models: that parsing
costs more CPU than the whole HTTP call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import httpx2
import openai
import orjson
from flask import Flask, current_app

from chatgate.config import Settings, UpstreamSpec
from chatgate.errors import (
    ApiError,
    BadRequest,
    NotFound,
)
from chatgate.models import spec_for
from chatgate.storage.contracts import FailureCounts, Rests
from chatgate.storage.records import StoredToken
from chatgate.upstream.background import BackgroundPoller, unfinished
from chatgate.upstream.continuation import Continuation, Opener, continuable, continuation_payload
from chatgate.upstream.event_stream import (
    ChatEvents,
    EventKind,
    EventStream,
    ResponseEvents,
    decode_json,
    response_usage,
)
from chatgate.upstream.failover import Failover
from chatgate.upstream.hooks import Call, CallHook, Hooks, Outcome, bounded_usage, give_answer_headers
from chatgate.upstream.routing import Router
from chatgate.upstream.sdk_clients import SdkClients
from chatgate.upstream.stall_watch import StallWatch

log = logging.getLogger(__name__)
T = TypeVar("T")

_KEY = "upstream_client"


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """The upstream's decoded answer to a call, and the headers the hooks added for the caller (a budget's figures,
    the fallback model that answered)."""

    body: dict[str, Any]
    headers: dict[str, str]


class UpstreamClient:
    """Everything asked of the upstream (chat completions, responses, embeddings, stored responses, the model
    list), with our errors, retries and each model's quirks."""

    def __init__(
        self,
        settings: Settings,
        hooks: tuple[CallHook, ...] = (),
        request_headers: Callable[[], dict[str, str]] = dict,
        caller: Callable[[], tuple[str, StoredToken | None]] = lambda: ("unknown", None),
        router: Router | None = None,
        together: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ):
        self.settings = settings
        self.router = router or Router(settings)
        self.hooks = Hooks(hooks, together)
        self.sdks = SdkClients(settings, self.router.several)
        self.failover = Failover(settings, self.router, self.sdks, self.hooks, request_headers)
        self._caller = caller  # who makes the call, and under which policy: each Call carries them
        self._auto_upstreams = [upstream for upstream in self.router.upstreams if upstream.models_auto]
        self._listed_at = float("-inf")  # when the auto upstreams' own lists were last read
        self._lock = threading.Lock()
        self._stall_watch = StallWatch(settings.stream_stall_seconds) if settings.stream_stall_seconds else None
        self._background = BackgroundPoller(
            lambda response_id, key: self.stored("GET", f"/responses/{response_id}", key),
            self.hooks.finish,
            settings.background_poll_seconds,
            settings.background_deadline,
        )

    def complete(self, payload: dict[str, Any], api_key: str | None = None) -> Answer:
        """Send a chat completion and return the upstream's decoded JSON answer."""
        call = self._call(spec_for(payload.get("model", "")).adapt(payload))
        return self._answer("/chat/completions", call, api_key, lambda answer: answer.get("usage"))

    def respond(
        self, payload: dict[str, Any], api_key: str | None = None, carried_tokens: int = 0, path: str = "/responses"
    ) -> Answer:
        """Create a response with the Responses API (or, on `/responses/compact`, compact a context) and return the
        upstream's decoded JSON answer; a stored response it continues brings `carried_tokens` to its prompt."""
        call = self._call(spec_for(payload.get("model", "")).adapt_response(payload), "responses", carried_tokens)
        return self._answer(path, call, api_key, response_usage)

    def embed(self, payload: dict[str, Any], api_key: str | None = None) -> Answer:
        """Create embeddings and return the upstream's decoded JSON answer."""
        call = self._call(payload, "embeddings")
        return self._answer("/embeddings", call, api_key, lambda answer: answer.get("usage"))

    def _answer(
        self, path: str, call: Call, api_key: str | None, usage_of: Callable[[dict[str, Any]], object]
    ) -> Answer:
        started = time.perf_counter()
        response = self._post(path, call, api_key, stream=False)
        try:
            answer = decode_json(response.content)
        except ApiError as error:
            self.hooks.finish(call, Outcome("failed", cause="bad_answer"))
            give_answer_headers(error, call)
            raise
        call.answered_after = time.perf_counter() - started
        if call.kind == "responses" and unfinished(answer):  # made in the background: settled once it has finished
            self._background.follow(call, answer["id"], api_key)
            return Answer(answer, call.answer_headers)
        usage = usage_of(answer)
        if isinstance(usage, dict):
            self.hooks.finish(call, Outcome("answered", bounded_usage(usage), answer=answer))
        else:  # an upstream that reports no usage (some local servers) is metered by estimate
            reply = answer.get("choices") or answer.get("output") or ""
            estimate = call.estimated_usage(len(str(reply)))
            self.hooks.finish(call, Outcome("answered", estimate, estimated=True, answer=answer))
        return Answer(answer, call.answer_headers)

    def stream(self, payload: dict[str, Any], api_key: str | None = None) -> EventStream:
        """Open a streamed chat completion and read its first event before returning.

        The upstream is always asked for usage, so that the ledger and the token limit
        count real figures; surfaces whose clients did not ask drop that last chunk.
        """
        stream_options = {**payload.get("stream_options", {}), "include_usage": True}
        adapted = spec_for(payload.get("model", "")).adapt(payload)
        body = {**adapted, "stream": True, "stream_options": stream_options}
        going_on = None
        if self.settings.stream_continuation and continuable(body):
            going_on = Continuation(self._opener(body, api_key), self.settings.stream_max_continuations)
        return self._stream("/chat/completions", self._call(body), api_key, continuation=going_on)

    def _opener(self, body: dict[str, Any], api_key: str | None) -> Opener:
        """What opens the call that continues a cut reply to `body`: a call of its own (asked of the hooks, so
        reserved and settled under the caller's budgets), on another upstream than the one that cut it first."""

        def go_on(partial: str, cut_on: str | None) -> tuple[httpx2.Response, Call]:
            call = self._call(continuation_payload(body, partial))
            call.continues, call.avoid = len(partial), cut_on
            return self._post("/chat/completions", call, api_key, stream=True), call

        return go_on

    def stream_response(
        self, payload: dict[str, Any], api_key: str | None = None, carried_tokens: int = 0
    ) -> EventStream:
        """Open a streamed Responses API call and read its first event before returning."""
        adapted = spec_for(payload.get("model", "")).adapt_response(payload)
        call = self._call({**adapted, "stream": True}, "responses", carried_tokens)
        return self._stream("/responses", call, api_key, ResponseEvents)

    def _stream(
        self,
        path: str,
        call: Call,
        api_key: str | None,
        kind: EventKind | None = None,
        continuation: Continuation | None = None,
    ) -> EventStream:
        started = time.perf_counter()
        response = self._post(path, call, api_key, stream=True)
        try:
            return EventStream(
                response,
                self.settings.upstream_timeout,
                call,
                self.hooks,
                started,
                kind or ChatEvents,
                continuation,
                self._stall_watch,
            )
        except BaseException as error:
            response.close()  # the stream reported its usage (an estimate) as it closed
            give_answer_headers(error, call)
            raise

    def stored(
        self,
        method: str,
        path: str,
        api_key: str | None = None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Relay a call on something an upstream keeps (a stored response, a conversation and its items): it costs
        nothing, so no hook is told. One that makes something (`body` given, on no id yet) goes to the first
        upstream that takes the key."""

        def ask(upstream: UpstreamSpec, headers: dict[str, str]) -> dict[str, Any]:
            sdk = self.sdks.sdk_for(upstream)
            senders: dict[str, Callable[..., Any]] = {"GET": sdk.get, "POST": sdk.post, "DELETE": sdk.delete}
            send = senders[method]
            given = {"body": body} if method == "POST" else {}
            options = {"headers": headers, "params": params or {}}
            return decode_json(send(path, cast_to=httpx2.Response, options=options, **given).content)

        return self._asked_until_known(api_key, ask)

    def stored_events(self, path: str, api_key: str | None = None, params: dict[str, Any] | None = None) -> EventStream:
        """Relay a stored response's events (`GET /responses/{id}?stream=true`, from `starting_after` if given): it
        costs nothing, so no hook is told."""

        def ask(upstream: UpstreamSpec, headers: dict[str, str]) -> EventStream:
            get: Callable[..., httpx2.Response] = self.sdks.sdk_for(upstream).get
            response = get(
                path, cast_to=httpx2.Response, options={"headers": headers, "params": params or {}}, stream=True
            )
            call = Call({}, "responses", self._caller()[0])
            return EventStream(response, self.settings.upstream_timeout, call, kind=ResponseEvents)

        return self._asked_until_known(api_key, ask)

    def _asked_until_known(self, api_key: str | None, ask: Callable[[UpstreamSpec, dict[str, str]], T]) -> T:
        """`ask` each upstream that could have made the thing asked about (with its own auth header), until one
        knows it: a 404 moves on to the next, the last one's answer or failure is ours."""
        candidates = self._taking(api_key)
        for index, upstream in enumerate(candidates):
            try:
                return ask(upstream, self.sdks.auth_header(upstream, api_key))
            except openai.APIError as exc:
                if not isinstance(exc, openai.NotFoundError) or index == len(candidates) - 1:
                    raise self.failover.translate(exc, api_key is not None) from None
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
            response = self.sdks.sdk_for(upstream).get(
                "/models", cast_to=httpx2.Response, options={"headers": self.sdks.auth_header(upstream, api_key)}
            )
        except openai.APIError as exc:
            raise self.failover.translate(exc, api_key is not None) from None
        return decode_json(response.content).get("data") or []

    def _call(self, payload: dict[str, Any], kind: str = "chat", carried_tokens: int = 0) -> Call:
        caller, policy = self._caller()
        return Call(payload, kind, caller, policy, carried_tokens)

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
        self.sdks.auth_header(self.router.upstreams[0], api_key)  # no key at all: 503 before the hooks
        self.hooks.admit(call)
        if self.settings.log_message_contents:
            log.info("upstream request body: %s", orjson.dumps(call.payload.get("messages")).decode())
        try:
            return self.failover.send(path, call, stream, api_key)
        except ApiError as error:
            give_answer_headers(error, call)
            raise


def init_app(
    app: Flask,
    settings: Settings,
    hooks: tuple[CallHook, ...],
    request_headers: Callable[[], dict[str, str]],
    caller: Callable[[], tuple[str, StoredToken | None]],
    rests: Rests,
    failures: FailureCounts,
    together: Callable[[], contextlib.AbstractContextManager[None]],
) -> UpstreamClient:
    """Give the app its one shared upstream client, which sends `request_headers()` with every call, tells
    `hooks` about each (made by `caller()`), keeps which upstreams rest in `rests` (counting their failed calls in
    `failures`), and sends the storage writes of each ending the hooks are told `together`."""
    router = Router(settings, rests, failures)
    client = app.extensions[_KEY] = UpstreamClient(settings, hooks, request_headers, caller, router, together)
    return client


def upstream_client() -> UpstreamClient:
    """The current app's shared upstream client."""
    return cast(UpstreamClient, current_app.extensions[_KEY])
