"""Sending one call until an upstream answers: the upstreams of its model in the router's order, then those of its
fallback models, each attempt within what is left of UPSTREAM_TIMEOUT.

A connection error, a 5xx or a 429 before any byte moves the call to another upstream (the same one again, after
a pause, when it is the only one: but never after a 429); each model has UPSTREAM_MAX_RETRIES further attempts.
A timeout is never sent again (the upstream may still be working on, and billing, the first) unless its upstream
says failover_on_timeout. A failure tells the hooks and becomes our own error (`upstream.error_map`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import NoReturn

import httpx2
import openai
import orjson

from chatgate.config import Settings, UpstreamSpec
from chatgate.errors import ApiError, UpstreamUnavailable
from chatgate.models import catalogue, spec_for
from chatgate.upstream import error_map
from chatgate.upstream.hooks import FAILED, Attempt, Call, Hooks, Outcome
from chatgate.upstream.routing import Router
from chatgate.upstream.sdk_clients import SdkClients

log = logging.getLogger(__name__)


class _Attempts:
    """One call's way through the upstreams: the last failure, and what it tells the router (nothing on a
    caller's own key, which never rests a shared upstream; one failure per upstream however often it tried)."""

    def __init__(self, router: Router, call: Call, api_key: str | None, timeout: float):
        self.router, self.shared, self.client_key = router, api_key is None, api_key is not None
        self.requested, self.api_key = call.model, api_key
        self.deadline = time.monotonic() + timeout
        self.last: openai.APIError | None = None
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


class Failover:
    """Sends a call's body to the upstreams that can answer it, until one does."""

    def __init__(
        self,
        settings: Settings,
        router: Router,
        sdks: SdkClients,
        hooks: Hooks,
        request_headers: Callable[[], dict[str, str]],
    ):
        self.settings, self.router, self.sdks, self.hooks = settings, router, sdks, hooks
        self._request_headers = request_headers  # sent with every call (our request id, for tracing)

    def send(self, path: str, call: Call, stream: bool, api_key: str | None) -> httpx2.Response:
        """The first upstream answer for `call`, or its failure raised as our own error."""
        attempts = _Attempts(self.router, call, api_key, self.settings.upstream_timeout)
        for model in self.router.chain(call.model):
            plan = self.router.plan(model, attempts.client_key)
            if not plan:  # every upstream of it rests
                continue
            if call.avoid is not None:  # a continuation: the upstream that cut the reply comes last
                plan.sort(key=lambda upstream: upstream.name == call.avoid)
            if model != call.model and not self._fall_back(call, model):
                continue
            if (response := self._try_plan(path, call, stream, plan, attempts)) is not None:
                if call.model != attempts.requested:
                    call.answer_headers["X-Fallback-Model"] = call.model
                return response
        self._failed(call, path, attempts.last, attempts.client_key)

    def _try_plan(
        self, path: str, call: Call, stream: bool, plan: list[UpstreamSpec], attempts: _Attempts
    ) -> httpx2.Response | None:
        """The answer of one of `plan`'s upstreams, or None to move on to the next model."""
        content = orjson.dumps(call.payload)
        for attempt, upstream in enumerate(self.router.attempts(plan, self.settings.upstream_max_retries + 1)):
            call.upstream = upstream.name
            started, began = time.perf_counter(), time.time()
            try:
                response = self._send(upstream, path, content, stream, attempts, len(plan))
            except openai.APITimeoutError as exc:
                call.attempts.append(Attempt(upstream.name, "timeout", time.perf_counter() - started, began))
                attempts.failed(upstream)
                if not upstream.failover_on_timeout or len(plan) == 1 or time.monotonic() >= attempts.deadline:
                    self._timed_out(call, path)
                attempts.last = exc
                continue
            except openai.APIError as exc:
                call.attempts.append(
                    Attempt(upstream.name, error_map.cause_of(exc), time.perf_counter() - started, began)
                )
                attempts.last = exc
                if not self._goes_on(exc, call, path, upstream, plan, attempt, attempts):
                    return None
                continue
            call.attempts.append(Attempt(upstream.name, "ok", time.perf_counter() - started, began))
            attempts.succeeded(upstream)
            return response
        return None

    def _send(
        self, upstream: UpstreamSpec, path: str, content: bytes, stream: bool, attempts: _Attempts, choices: int
    ) -> httpx2.Response:
        # An upstream whose timeout may be failed over gets half the time left, so the next one gets the other half.
        share = 0.5 if upstream.failover_on_timeout and choices > 1 else 1.0
        headers = {**self._request_headers(), **self.sdks.auth_header(upstream, attempts.api_key)}
        timeout = max(0.001, share * (attempts.deadline - time.monotonic()))
        return self.sdks.post(upstream, path, content, stream, headers, timeout)

    def _goes_on(
        self,
        exc: openai.APIError,
        call: Call,
        path: str,
        upstream: UpstreamSpec,
        plan: list[UpstreamSpec],
        attempt: int,
        attempts: _Attempts,
    ) -> bool:
        """Whether a failed attempt goes on to another: tell the router (a 429 rests the model there), and pause
        before trying the only one again. A failure that is the request's own ends the call."""
        if error_map.request_too_large(exc) or not (
            error_map.worth_retrying(exc) or error_map.cause_of(exc) == "rate_limited"
        ):
            self._failed(call, path, exc, attempts.client_key)  # the request itself is wrong
        rate_limited = isinstance(exc, openai.APIStatusError) and exc.status_code == 429
        if isinstance(exc, openai.APIStatusError) and rate_limited:
            attempts.rate_limited(upstream, call.model, error_map.retry_after(exc))
        else:
            attempts.failed(upstream)
        if len(plan) > 1:
            return time.monotonic() < attempts.deadline
        pause = min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)
        if rate_limited or time.monotonic() + pause >= attempts.deadline:
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
        self.hooks.finish(call, FAILED)  # gives back what the earlier model reserved
        earlier, earlier_payload, payload = call.model, call.payload, {**call.payload, "model": model}
        spec = spec_for(model)
        call.payload = spec.adapt_response(payload) if call.kind == "responses" else spec.adapt(payload)
        call.model = model
        try:
            self.hooks.admit(call)
        except ApiError as refusal:
            log.warning("fallback %s for %s refused: %s", model, earlier, refusal.message)
            call.model, call.payload = earlier, earlier_payload  # what the call's failure will name
            return False
        log.warning("every upstream of %s failed or rests: falling back to %s", earlier, model)
        return True

    def _timed_out(self, call: Call, path: str) -> NoReturn:
        # The upstream may have done, and billed, the work: meter an estimate, and never send it again.
        self.hooks.finish(call, Outcome("cut", call.estimated_usage(), estimated=True, cause="timeout"))
        log.warning("upstream %s timed out after %g s%s", path, self.settings.upstream_timeout, self.where(call))
        raise error_map.timed_out(self.settings.upstream_timeout) from None

    def where(self, call: Call, request_id: str | None = None) -> str:
        """Which upstream, for a log line: named when there are several (never its URL or its key)."""
        named = [f"upstream {call.upstream}"] if self.router.several and call.upstream else []
        told = named + ([f"upstream request id {request_id}"] if request_id is not None else [])
        return f" [{', '.join(told)}]" if told else ""

    def _failed(self, call: Call, path: str, last: openai.APIError | None, client_key: bool) -> NoReturn:
        """End the call with the last upstream's failure, or, when it was asked of none, the 503 of rest."""
        if isinstance(last, openai.APITimeoutError):
            self._timed_out(call, path)
        cause = error_map.cause_of(last) if last is not None else "resting"
        self.hooks.finish(call, Outcome("failed", cause=cause))
        error: ApiError
        if last is None:
            error = UpstreamUnavailable(
                f"Every upstream of {call.model!r} is resting after failures; try again in a few seconds.",
                headers={"Retry-After": "5"},
            )
        else:
            error = self.translate(last, client_key)
        request_id = error_map.upstream_request_id(last) if last is not None else None
        log.warning("upstream %s failed (%s): %s%s", path, cause, error.message, self.where(call, request_id))
        raise error from None

    def translate(self, exc: openai.APIError, client_key: bool) -> ApiError:
        return error_map.translate(exc, client_key, self.settings.upstream_timeout, self.router.longest_rest)
