"""Several upstreams: which ones serve a model, in what order a call tries them, and which are resting.

A call picks among the upstreams of its model by weight, skipping those at rest. No single call
can rest a shared upstream:
- a 429 rests only the model it was about, on that upstream, for its Retry-After capped at
  UPSTREAM_MAX_REST (a value that is not a finite number of seconds ahead: the first back-off);
- a failure (unreachable, 5xx, timeout) rests the whole upstream only once UPSTREAM_FAILURES_TO_REST
  different calls failed there within UPSTREAM_FAILURE_WINDOW seconds (a circuit breaker, counted in
  the shared storage across workers and instances); it rests 5 s, then 10, 20, ... up to
  UPSTREAM_MAX_REST while it keeps failing, and is back at its first success;
- what happens on a caller's own key is that caller's, and never moves this shared state (the client
  does not tell the router about it).
Rest is kept in the shared storage, so every worker (and, on Redis, every instance) sees it within
REFRESH seconds, and the worker that saw the failure at once. With no UPSTREAMS_FILE there is one
upstream and no rest: everything works as it always did.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator

from chatgate.config import Settings, UpstreamSpec
from chatgate.storage.contracts import FailureCounts, Rests, State
from chatgate.storage.keys import storage_key

REFRESH = 0.5  # seconds a process trusts its copy of who is resting
FIRST_REST = 5.0
LONGEST_REST_BY_HAND = 24 * 3600.0  # an operator's rest (failures 0) may be longer than any the failures take
_MODEL_SEPARATOR = "\x1f"  # between an upstream's name and a model in the name of a model's rest


class Router:
    """The upstreams, the fallback models, and the rest they take."""

    def __init__(self, settings: Settings, rests: Rests | None = None, failures: FailureCounts | None = None):
        self.upstreams = settings.upstream_list
        self.fallbacks = dict(settings.fallbacks)
        self.several = bool(settings.upstreams)
        self.longest_rest = settings.upstream_max_rest
        self.failures_to_rest = settings.upstream_failures_to_rest
        self.failure_window = settings.upstream_failure_window
        self._rests = rests if self.several else None  # the shared store; a single upstream never rests
        self._failures = failures
        self.listed: dict[str, frozenset[str]] = {}  # a `models = "auto"` upstream's name -> its own list's ids
        self._states: dict[str, State] = {}  # rest name -> (resting until, failures in a row)
        self._models_rest = False  # whether a name in _states is a model's rest
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def chain(self, model: str) -> list[str]:
        """`model`, then the models to try when every upstream of it failed or rests."""
        return [model, *(fallback for fallback in self.fallbacks.get(model, ()) if fallback != model)]

    def serving(self, model: str, client_key: bool) -> list[UpstreamSpec]:
        """Every upstream that serves `model` (and, for a caller's own key, takes one), resting or not: a
        `models = "auto"` upstream serves the ids its own list returned when it was last read."""
        return [u for u in self.upstreams if self._serves(u, model) and (u.client_keys or not client_key)]

    def _serves(self, upstream: UpstreamSpec, model: str) -> bool:
        return model in self.listed.get(upstream.name, ()) if upstream.models_auto else upstream.serves(model)

    def serving_anything(self, client_key: bool) -> list[UpstreamSpec]:
        """The upstreams a call that names no model may go to (and, for a caller's own key, that take one)."""
        return [u for u in self.upstreams if u.client_keys or not client_key]

    def plan(self, model: str, client_key: bool) -> list[UpstreamSpec]:
        """The upstreams to try for `model`, in order: weighted at random, those at rest (whole, or for this
        model) left out."""
        now, states = time.time(), self._current()
        per_model = self._models_rest  # most of the time no model rests anywhere: no name is built
        awake = [
            u
            for u in self.serving(model, client_key)
            if _until(states, u.name) <= now and not (per_model and _until(states, _model_rest(u, model)) > now)
        ]
        # Weighted order without replacement (Efraimidis-Spirakis): a larger weight comes first more often.
        return sorted(awake, key=lambda u: random.random() ** (1.0 / u.weight), reverse=True)

    def attempts(self, plan: list[UpstreamSpec], tries: int) -> Iterator[UpstreamSpec]:
        """Up to `tries` attempts: the next upstream each time, the same one again when it is the only one."""
        for attempt in range(tries):
            yield plan[attempt % len(plan)]

    def rate_limited(self, upstream: UpstreamSpec, model: str, seconds: float | None) -> None:
        """It said 429 about `model`: that model is not sent there for `seconds` (None: the first back-off), at
        most UPSTREAM_MAX_REST."""
        name = _model_rest(upstream, model)
        self._set(name, time.time() + self._bounded(seconds), _failures(self._current(), name))

    def failed(self, upstream: UpstreamSpec) -> None:
        """One call failed there (unreachable, 5xx, timeout): tell it once per call. Once enough different calls
        failed within the window, it rests, longer each time in a row."""
        if self._rests is None or self._failures is None:
            return
        window = max(1, math.ceil(self.failure_window))
        failed_calls, _ = self._failures.count(storage_key("upstream-failures", upstream.name), window)
        if failed_calls < self.failures_to_rest:
            return
        failures = _failures(self._current(), upstream.name) + 1
        self._set(upstream.name, time.time() + self._bounded(FIRST_REST * 2 ** min(failures - 1, 32)), failures)

    def succeeded(self, upstream: UpstreamSpec) -> None:
        """It answered: its run of failures ends (written only when there was one)."""
        if _failures(self._current(), upstream.name):
            self._set(upstream.name, 0.0, 0)

    def rest_by_hand(self, upstream: UpstreamSpec, seconds: float) -> float:
        """An operator rests `upstream` for `seconds` (at most a day), on every instance; when it ends. A rest by
        hand counts no failure: that is how it is told from one the failures took."""
        if self._rests is None:
            raise ValueError("a single upstream never rests: several come from an UPSTREAMS_FILE")
        until = time.time() + min(max(seconds, 0.0), LONGEST_REST_BY_HAND)
        self._set(upstream.name, until, 0)
        return until

    def resume(self, upstream: UpstreamSpec) -> None:
        """An operator brings `upstream` back now: its rest and its run of failures end."""
        if self._rests is None:
            raise ValueError("a single upstream never rests: several come from an UPSTREAMS_FILE")
        self._set(upstream.name, 0.0, 0)

    def rest_of(self, upstream: UpstreamSpec) -> State:
        """Until when `upstream` rests (a time past: it serves), and its failures in a row (0 with a rest: by
        hand), as storage says now (not this process's copy, which may be half a second old)."""
        self._read_at = float("-inf")
        return self._current().get(upstream.name, (0.0, 0))

    def state_of(self, upstream: UpstreamSpec) -> str:
        """`ok`, `failing` (it failed lately, but rests no more) or `resting until <time>`, for readiness; the
        models it is rate limited on follow."""
        states, now = self._current(), time.time()
        until, failures = states.get(upstream.name, (0.0, 0))
        state = f"resting until {_instant(until)}" if until > now else "failing" if failures else "ok"
        prefix = upstream.name + _MODEL_SEPARATOR
        limited = sorted(
            f"{name.removeprefix(prefix)} until {_instant(rest[0])}"
            for name, rest in states.items()
            if name.startswith(prefix) and rest[0] > now
        )
        return f"{state}; rate limited on {', '.join(limited)}" if limited else state

    def _bounded(self, seconds: float | None) -> float:
        """A rest's length: what was asked when it is a finite number of seconds ahead, else the first back-off;
        never longer than UPSTREAM_MAX_REST."""
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            seconds = FIRST_REST
        return min(seconds, self.longest_rest)

    def _set(self, name: str, until: float, failures: int) -> None:
        if self._rests is None:
            return
        with self._lock:
            self._states[name] = (until, failures)
            self._models_rest = self._models_rest or _MODEL_SEPARATOR in name
        self._rests.rest(name, until, failures)

    def _current(self) -> dict[str, State]:
        if self._rests is None:
            return {}
        now = time.monotonic()
        if now - self._read_at >= REFRESH:
            # A rest written by an older version, or in storage by hand, can hold anything: never beyond the longest
            # rest (an operator's, through the admin API, a day).
            wall, ceiling = time.time(), {}
            for name, (until, failures) in self._rests.states().items():
                latest = wall + (self.longest_rest if failures else max(self.longest_rest, LONGEST_REST_BY_HAND))
                ceiling[name] = (min(until, latest) if math.isfinite(until) else 0.0, failures)
            with self._lock:
                self._states, self._read_at = ceiling, now
                wall = time.time()  # an ended rest stays in storage: only one still running counts
                self._models_rest = any(_MODEL_SEPARATOR in name and rest[0] > wall for name, rest in ceiling.items())
        return self._states


def _model_rest(upstream: UpstreamSpec, model: str) -> str:
    return f"{upstream.name}{_MODEL_SEPARATOR}{model}"


def _until(states: dict[str, State], name: str) -> float:
    return states.get(name, (0.0, 0))[0]


def _failures(states: dict[str, State], name: str) -> int:
    return states.get(name, (0.0, 0))[1]


def _instant(until: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
