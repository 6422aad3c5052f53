"""The response cache: the same question is paid once. Off without CACHE_TTL. An answer is kept by the key of the
request that got it (`cache.keys`), per caller unless CACHE_SCOPE=shared, in the storage the service uses; a
request answered from it never reaches the upstream, nor its caller's token or spend budget."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
from flask import Flask, current_app, request

from chatgate.cache.following import Publisher, followed, publication, published
from chatgate.cache.keys import request_key
from chatgate.cache.replay import CompletedResponse, Gathered, as_events, fresh
from chatgate.config import Settings
from chatgate.guard.access import current_caller, current_policy
from chatgate.guard.metrics import count_cache_lookup
from chatgate.guard.ownership import key_identity
from chatgate.guard.usage_ledger import usage_ledger
from chatgate.storage.contracts import Backend, ResponseCache, StreamBuffer
from chatgate.storage.outage import outage_noted
from chatgate.storage.records import CachedAnswer
from chatgate.streams.resumable import wants_resumable
from chatgate.upstream import Answer, Call, EventStream, StreamEvent
from chatgate.upstream.event_stream import ChatEvents, ResponseEvents, response_usage

_KEY = "response_cache"


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What the cache said of one request: its key (None: not cached at all), the entry found, the verdict, and
    whether this request leads the identical ones that arrive while it is asked (it must `land`)."""

    key: str | None
    found: CachedAnswer | None
    verdict: str  # "HIT", "MISS" or "BYPASS"
    leads: bool = False
    follows: str | None = None  # the buffer where the identical stream in flight publishes its events

    def headers(self) -> dict[str, str]:
        """`X-Cache`, and `Age` (seconds since the entry was stored: 0 for a fresh answer)."""
        age = int(time.time() - self.found.stored_at) if self.found else 0
        return {"X-Cache": self.verdict, "Age": str(max(0, age))}


BYPASS = Lookup(None, None, "BYPASS")


DONE = b"data: [DONE]\n\n"  # how a chat completion stream ends (a Responses stream ends with its last event)
WAIT_STEP = 0.02  # seconds between looks for the answer an identical request in flight is getting


class Cache:
    def __init__(
        self,
        store: ResponseCache,
        buffer: StreamBuffer,
        together: Callable[[], contextlib.AbstractContextManager[None]],
        settings: Settings,
    ):
        self.store, self.ttl, self.shared = store, settings.cache_ttl, settings.cache_scope == "shared"
        self.buffer = buffer  # where a leading stream publishes its events to those waiting on it
        self.together = together  # a block whose storage writes travel together (a call's end, and its entry)
        self.most = settings.cache_max_entry_bytes
        self.longest_wait = settings.upstream_timeout
        self.uncached_models = frozenset(settings.uncached_models)

    def lookup(self, kind: str, payload: dict[str, Any], own_key: str | None, stream: bool = False) -> Lookup:
        """Look for the answer to this request, which the upstream would be sent with `own_key` (None: the
        server's): not at all with `Cache-Control: no-store`, for a stored token or a model that turned caching off,
        nor, in a shared cache, for a caller's own key; without reading with `no-cache`. A `stream` may follow an
        identical stream in flight."""
        directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
        if "no-store" in directives or (self.shared and own_key) or not self._wanted(payload):
            count_cache_lookup("bypass")
            return BYPASS
        scope = "shared" if self.shared else _caller_scope(own_key)
        key = f"{scope}:{request_key(kind, payload)}"
        lookup = Lookup(key, None, "MISS") if "no-cache" in directives else self._in_flight(key, stream)
        count_cache_lookup(lookup.verdict, payload.get("model"))
        return lookup

    def _wanted(self, payload: dict[str, Any]) -> bool:
        """Whether neither the caller's stored token nor the model turned caching off."""
        policy = current_policy()
        return (policy is None or policy.cache) and payload.get("model") not in self.uncached_models

    def _in_flight(self, key: str, stream: bool) -> Lookup:
        """The entry, or single flight: the first of identical requests leads (it asks the upstream); the others
        wait for its answer, until it lands or the upstream's timeout passes, then ask themselves. A waiting stream
        follows the leading one's events as soon as it publishes them."""
        found, count = self.store.join(key, math.ceil(self.longest_wait) + 1)  # one round trip, hit or miss
        if found or count == 1:
            return Lookup(key, found, "HIT") if found else Lookup(key, None, "MISS", leads=True)
        count_cache_lookup("waited")
        deadline, name = time.monotonic() + self.longest_wait, publication(key)
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP)
            found, count = self.store.look(key)
            if found or not count:  # it landed: with an answer kept, or with nothing (then asked anew)
                break
            if stream and (stream_id := published(self.buffer, name)):
                return Lookup(key, None, "HIT", follows=stream_id)
        return Lookup(key, found, "HIT" if found else "MISS")

    def followed(self, lookup: Lookup) -> bool:
        """Whether an identical request waits on this leading one."""
        return lookup.key is not None and self.store.look(lookup.key)[1] > 1

    def land(self, lookup: Lookup, body: bytes | None) -> None:
        """The request that missed is done: its complete answer kept (`body`; None: nothing to keep, and one too
        big is not kept), and, when it leads, those waiting stop waiting. The answer has gone already: a storage
        failure loses only the entry."""
        if lookup.key is None or lookup.found is not None:
            return
        kept = body if body is not None and len(body) <= self.most else None
        with outage_noted(f"cache entry {lookup.key}"):
            self.store.land(lookup.key, kept, self.ttl, lookup.leads)


class StreamKeeper:
    """Watches a leading stream on its way (`EventStream.watch`): gathered event by event and kept once whole, its
    events published to the identical streams that wait on it, and its flight landed however it ends."""

    def __init__(self, cache: Cache, lookup: Lookup, kind: str):
        self.cache, self.lookup, self.kind = cache, lookup, kind
        self.gathered = CompletedResponse() if kind == "responses" else Gathered()
        name = publication(str(lookup.key))
        self.publisher = Publisher(cache.buffer, name, cache.longest_wait + 1, lambda: cache.followed(lookup))

    def add(self, event: StreamEvent) -> None:
        self.gathered.add(event.chunk)
        self.publisher.add(event.block)

    def ended(self, whole: bool) -> None:
        answer = self.gathered.answer() if whole else None
        try:
            self.publisher.end(closing=DONE if whole and self.kind == "chat" else None)
        finally:
            self.cache.land(self.lookup, None if answer is None else orjson.dumps(answer))


class FollowedHit:
    """Watches a stream that follows an identical one: when it ends whole, a hit in the ledger, with its usage."""

    def __init__(self, kind: str, payload: dict[str, Any]):
        self.kind, self.payload = kind, payload
        self.usage: dict[str, Any] = {}

    def add(self, event: StreamEvent) -> None:
        self.usage = event.usage or self.usage

    def ended(self, whole: bool) -> None:
        if whole:
            _note_hit(self.payload, self.usage)


def answered(
    kind: str, payload: dict[str, Any], own_key: str | None, ask: Callable[[], Answer]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer to a plain request and the headers it adds: from the cache when it has it (with a fresh id),
    else `ask`ed of the upstream and kept for the next asker."""
    cache = response_cache()
    if cache is None:
        answer = ask()
        return answer.body, answer.headers
    lookup = cache.lookup(kind, payload, own_key)
    if lookup.found:  # answered again: no upstream, no budget
        return fresh(kind, _hit(kind, payload, lookup.found)), lookup.headers()
    kept = None
    with cache.together():  # the entry travels with the call's own end-of-call writes
        try:
            answer = ask()
            kept = orjson.dumps(answer.body)
        finally:
            cache.land(lookup, kept)
    return answer.body, {**answer.headers, **lookup.headers()}


def streamed(
    kind: str, payload: dict[str, Any], own_key: str | None, start: Callable[[], EventStream]
) -> tuple[EventStream, dict[str, str]]:
    """The stream answering a streamed request, and the headers it adds: the cached answer said again in the
    stream's own events, or the upstream's stream `start`ed and watched, to be kept when it ends whole. A resumable
    stream is not looked up: it has a life of its own, readers who come back, a stop."""
    cache = response_cache()
    if cache is None:
        return start(), {}
    lookup = BYPASS if wants_resumable() else cache.lookup(kind, payload, own_key, stream=True)
    speaks = ResponseEvents if kind == "responses" else ChatEvents
    if lookup.found:  # answered again: no upstream, no budget
        events = as_events(kind, fresh(kind, _hit(kind, payload, lookup.found)))
        return EventStream.replayed(events, Call(payload, kind, current_caller()), speaks), lookup.headers()
    if lookup.follows:  # the identical stream in flight, as it comes: no upstream, no budget
        arriving = followed(cache.buffer, lookup.follows, cache.longest_wait)
        stream = EventStream.replayed(arriving, Call(payload, kind, current_caller()), speaks)
        stream.watch(FollowedHit(kind, payload))
        return stream, lookup.headers()
    try:
        upstream = start()
    except BaseException:
        cache.land(lookup, None)
        raise
    if lookup.key is not None:
        upstream.watch(StreamKeeper(cache, lookup, kind))
    return upstream, lookup.headers()


def _hit(kind: str, payload: dict[str, Any], found: CachedAnswer) -> dict[str, Any]:
    """The stored answer, its hit written in the ledger with the tokens it saved."""
    answer = cast("dict[str, Any]", orjson.loads(found.body))
    usage = response_usage(answer) if kind == "responses" else answer.get("usage")
    _note_hit(payload, usage if isinstance(usage, dict) else {})
    return answer


def _note_hit(payload: dict[str, Any], usage: dict[str, Any]) -> None:
    caller, model = current_caller(), str(payload.get("model"))
    with outage_noted(f"cache hit of {caller} on {model}"):  # held by the ledger, written with its next call
        usage_ledger().record_hit(caller, model, usage)


def _caller_scope(own_key: str | None) -> str:
    """Whose entries: the caller's, and, with its own key, that key's (never the server key's answers)."""
    caller = current_caller()
    return f"{caller}:{key_identity(own_key)}" if own_key else caller


def init_app(app: Flask, settings: Settings, backend: Backend, buffer: StreamBuffer) -> Cache | None:
    """The app's cache, in `backend`, when CACHE_TTL is set; identical streams follow the first through `buffer`."""
    on = settings.cache_ttl > 0
    store = backend.response_cache(settings.cache_max_bytes) if on else None
    cache = Cache(store, buffer, backend.together, settings) if store is not None else None
    app.extensions[_KEY] = cache
    return cache


def response_cache() -> Cache | None:
    """The current app's cache (None: caching is off)."""
    return cast("Cache | None", current_app.extensions.get(_KEY))
