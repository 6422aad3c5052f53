"""Several upstreams: which ones serve a model, in what order a call tries them, and which are resting.

A call picks among the upstreams of its model by weight, skipping those at rest. An upstream
that said 429 rests until its Retry-After; one that failed (unreachable, 5xx) rests 5 s, then 10,
20, ... up to 60 s while it keeps failing, and is back at its first success. Rest is kept in the
shared storage, so every worker (and, on Redis, every instance) sees it within REFRESH seconds,
and the worker that saw the failure at once. With no UPSTREAMS_FILE there is one upstream and no
rest: everything works as it always did.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

from config import Settings, UpstreamSpec

REFRESH = 0.5  # seconds a process trusts its copy of who is resting
FIRST_REST, LONGEST_REST = 5.0, 60.0


class Router:
    """The upstreams, the fallback models, and the rest they take."""

    def __init__(self, settings: Settings, rests=None):
        self.upstreams = settings.upstream_list
        self.fallbacks = dict(settings.fallbacks)
        self.several = bool(settings.upstreams)
        self._rests = rests if self.several else None  # the shared store; a single upstream never rests
        self._states: dict[str, tuple[float, int]] = {}  # name -> (resting until, failures in a row)
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def chain(self, model: str) -> list[str]:
        """`model`, then the models to try when every upstream of it failed or rests."""
        return [model, *(fallback for fallback in self.fallbacks.get(model, ()) if fallback != model)]

    def serving(self, model: str, client_key: bool) -> list[UpstreamSpec]:
        """Every upstream that serves `model` (and, for a caller's own key, takes one), resting or not."""
        return [u for u in self.upstreams if u.serves(model) and (u.client_keys or not client_key)]

    def serving_anything(self, client_key: bool) -> list[UpstreamSpec]:
        """The upstreams a call that names no model may go to (and, for a caller's own key, that take one)."""
        return [u for u in self.upstreams if u.client_keys or not client_key]

    def plan(self, model: str, client_key: bool) -> list[UpstreamSpec]:
        """The upstreams to try for `model`, in order: weighted at random, those at rest left out."""
        now, states = time.time(), self._current()
        awake = [u for u in self.serving(model, client_key) if states.get(u.name, (0.0, 0))[0] <= now]
        # Weighted order without replacement (Efraimidis-Spirakis): a larger weight comes first more often.
        return sorted(awake, key=lambda u: random.random() ** (1.0 / u.weight), reverse=True)

    def attempts(self, plan: list[UpstreamSpec], tries: int) -> Iterator[UpstreamSpec]:
        """Up to `tries` attempts: the next upstream each time, the same one again when it is the only one."""
        for attempt in range(tries):
            yield plan[attempt % len(plan)]

    def rest(self, upstream: UpstreamSpec, seconds: float) -> None:
        """It said 429: not chosen again for `seconds`."""
        failures = self._current().get(upstream.name, (0.0, 0))[1]
        self._set(upstream, time.time() + max(0.0, seconds), failures)

    def failed(self, upstream: UpstreamSpec) -> None:
        """It was unreachable or failed: rest, longer each time in a row."""
        failures = self._current().get(upstream.name, (0.0, 0))[1] + 1
        self._set(upstream, time.time() + min(LONGEST_REST, FIRST_REST * 2 ** (failures - 1)), failures)

    def succeeded(self, upstream: UpstreamSpec) -> None:
        """It answered: its run of failures ends (written only when there was one)."""
        if self._current().get(upstream.name, (0.0, 0))[1]:
            self._set(upstream, 0.0, 0)

    def state_of(self, upstream: UpstreamSpec) -> str:
        """`ok`, `failing` (it failed lately, but rests no more) or `resting until <time>`, for readiness."""
        until, failures = self._current().get(upstream.name, (0.0, 0))
        if until > time.time():
            return "resting until " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        return "failing" if failures else "ok"

    def _set(self, upstream: UpstreamSpec, until: float, failures: int) -> None:
        if self._rests is None:
            return
        with self._lock:
            self._states[upstream.name] = (until, failures)
        self._rests.rest(upstream.name, until, failures)

    def _current(self) -> dict[str, tuple[float, int]]:
        if self._rests is None:
            return {}
        now = time.monotonic()
        if now - self._read_at >= REFRESH:
            states = self._rests.states()
            with self._lock:
                self._states, self._read_at = states, now
        return self._states
