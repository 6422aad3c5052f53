"""The response cache: the same question is paid once. Off without CACHE_TTL. An answer is kept by the key of the
request that got it (`cache.keys`), per caller unless CACHE_SCOPE=shared, in the storage the service uses; a
request answered from it never reaches the upstream, nor its caller's token or spend budget."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
from flask import Flask, current_app, request

from chatgate.cache.keys import request_key
from chatgate.cache.replay import Gathered, fresh
from chatgate.config import Settings
from chatgate.guard.access import current_caller
from chatgate.guard.credentials import credentials
from chatgate.guard.metrics import count_cache_lookup
from chatgate.storage.contracts import Backend, Counters, ResponseCache
from chatgate.storage.outage import outage_noted
from chatgate.storage.records import CachedAnswer
from chatgate.upstream import Answer

_KEY = "response_cache"


@dataclasses.dataclass(frozen=True)
class Lookup:
    """What the cache said of one request: its key (None: not cached at all), the entry found, the verdict, and
    whether this request leads the identical ones that arrive while it is asked (it must `land`)."""

    key: str | None
    found: CachedAnswer | None
    verdict: str  # "HIT", "MISS" or "BYPASS"
    leads: bool = False

    def headers(self) -> dict[str, str]:
        """`X-Cache`, and `Age` (seconds since the entry was stored: 0 for a fresh answer)."""
        age = int(time.time() - self.found.stored_at) if self.found else 0
        return {"X-Cache": self.verdict, "Age": str(max(0, age))}


BYPASS = Lookup(None, None, "BYPASS")


WAIT_STEP = 0.02  # seconds between looks for the answer an identical request in flight is getting


class Cache:
    def __init__(self, store: ResponseCache, flights: Counters, settings: Settings):
        self.store, self.ttl, self.shared = store, settings.cache_ttl, settings.cache_scope == "shared"
        self.most = settings.cache_max_entry_bytes
        self.flights = flights  # one counter per request in flight: who asks the upstream, on every instance
        self.longest_wait = settings.upstream_timeout

    def lookup(self, kind: str, payload: dict[str, Any]) -> Lookup:
        """Look for the answer to this request: not at all with `Cache-Control: no-store` (nor, in a shared cache,
        for a caller's own key); without reading with `no-cache`."""
        directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
        own_key = credentials().upstream_key()  # the key the call itself will use
        if "no-store" in directives or (self.shared and own_key):
            count_cache_lookup("bypass")
            return BYPASS
        scope = "shared" if self.shared else _caller_scope(own_key)
        key = f"{scope}:{request_key(kind, payload)}"
        if "no-cache" in directives:
            lookup = Lookup(key, None, "MISS")
        elif found := self.store.get(key):
            lookup = Lookup(key, found, "HIT")
        else:
            lookup = self._in_flight(key)
        count_cache_lookup(lookup.verdict)
        return lookup

    def _in_flight(self, key: str) -> Lookup:
        """Single flight: the first of identical requests leads (it asks the upstream); the others wait for its
        answer, until it lands or the upstream's timeout passes, then ask themselves."""
        flight = f"flight:{key}"
        if self.flights.count(flight, math.ceil(self.longest_wait) + 1)[0] == 1:
            return Lookup(key, None, "MISS", leads=True)
        count_cache_lookup("waited")
        deadline = time.monotonic() + self.longest_wait
        while time.monotonic() < deadline and self.flights.get(flight):
            time.sleep(WAIT_STEP)
            if found := self.store.get(key):
                return Lookup(key, found, "HIT")
        found = self.store.get(key)  # it landed: with an answer kept, or with nothing (then asked anew)
        return Lookup(key, found, "HIT" if found else "MISS")

    def land(self, lookup: Lookup) -> None:
        """The leading request is done, answered or not: those waiting stop waiting."""
        if lookup.leads and lookup.key is not None:
            with outage_noted(f"end of flight {lookup.key}"):
                self.flights.clear(f"flight:{lookup.key}")

    def keep(self, lookup: Lookup, body: bytes) -> None:
        """Keep a complete answer to a request that missed (one too big is not kept)."""
        if lookup.key is None or lookup.found is not None or len(body) > self.most:
            return
        with outage_noted(f"cache entry {lookup.key}"):  # the answer has gone already: never lose it for this
            self.store.put(lookup.key, body, self.ttl)


class StreamKeeper:
    """A streamed answer on its way: gathered chunk by chunk, kept once whole, and its flight landed however the
    stream ends."""

    def __init__(self, cache: Cache, lookup: Lookup):
        self.cache, self.lookup, self.gathered = cache, lookup, Gathered()

    def add(self, chunk: dict[str, Any]) -> None:
        self.gathered.add(chunk)

    def finish(self) -> None:
        if (answer := self.gathered.answer()) is not None:
            self.cache.keep(self.lookup, orjson.dumps(answer))

    def land(self) -> None:
        self.cache.land(self.lookup)


def answered(kind: str, payload: dict[str, Any], ask: Callable[[], Answer]) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer to a plain request and the headers it adds: from the cache when it has it (a chat completion with
    a fresh id), else `ask`ed of the upstream and kept for the next asker."""
    cache = response_cache()
    if cache is None:
        answer = ask()
        return answer.body, answer.headers
    lookup = cache.lookup(kind, payload)
    if lookup.found:  # answered again: no upstream, no budget
        body = orjson.loads(lookup.found.body)
        return (fresh(body) if kind == "chat" else body), lookup.headers()
    try:
        answer = ask()
        cache.keep(lookup, orjson.dumps(answer.body))
    finally:
        cache.land(lookup)
    return answer.body, {**answer.headers, **lookup.headers()}


def _caller_scope(own_key: str | None) -> str:
    """Whose entries: the caller's, and, with its own key, that key's (never the server key's answers)."""
    caller = current_caller()
    return f"{caller}:key:{hashlib.sha256(own_key.encode()).hexdigest()[:32]}" if own_key else caller


def init_app(app: Flask, settings: Settings, backend: Backend) -> Cache | None:
    """The app's cache, in `backend`, when CACHE_TTL is set."""
    on = settings.cache_ttl > 0
    store = backend.response_cache(settings.cache_max_bytes) if on else None
    cache = app.extensions[_KEY] = Cache(store, backend.counters(), settings) if store is not None else None
    return cache


def response_cache() -> Cache | None:
    """The current app's cache (None: caching is off)."""
    return cast("Cache | None", current_app.extensions.get(_KEY))
