"""What the guard plugs into every upstream call: a hook may refuse a call before it starts."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import orjson

from chatgate.storage.records import StoredToken

# Where a request carries text the upstream reads: the prompt in each surface's form (messages, input items,
# instructions, a predicted output, a stored prompt's variables), walked for every string in it...
TEXT_FIELDS = ("messages", "input", "instructions", "prediction", "prompt")
# ...and what the model is told about tools and the shape of its answer, counted as the JSON it is sent as.
SCHEMA_FIELDS = ("tools", "functions", "tool_choice", "response_format", "text")
MARKERS = frozenset({"role", "type"})  # short words that say what a part is, not text of it
# An image or a file costs the upstream tokens whatever names it (a URL, a data: URL, a file id), so each one
# counts as this many characters (about 1,000 tokens): a prompt of 500 short image URLs is not 500 short strings.
ATTACHMENT_CHARACTERS = 4000
ATTACHMENT_TYPES = frozenset({"image_url", "input_image", "input_file", "file", "image"})
ATTACHMENT_FIELDS = frozenset({"image_url", "file_id", "file_data", "file_url"})


def _text_length(value: object) -> int:
    """The characters of text in `value`: every string in it however deep (tool calls' arguments, tool outputs,
    names, content parts), a token id as four characters; an image or file part, or a data: URL, as an
    attachment."""
    if isinstance(value, str):
        return min(len(value), ATTACHMENT_CHARACTERS) if value.startswith("data:") else len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 4
    if isinstance(value, list):
        return sum(_text_length(item) for item in value)
    if isinstance(value, dict):
        if value.get("type") in ATTACHMENT_TYPES or not ATTACHMENT_FIELDS.isdisjoint(value):
            return max(ATTACHMENT_CHARACTERS, sum(_text_length(item) for item in value.values()))
        return sum(_text_length(item) for key, item in value.items() if key not in MARKERS)
    return 0


MOST_COUNTED = 2**40  # more tokens than any call has; every sum of such counts stays inside 64 bits


def bounded_count(value: object) -> int:
    """A count from a hostile source as a whole number from 0 to MOST_COUNTED (anything else: 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return min(max(int(value), 0), MOST_COUNTED)


def cached_tokens(usage: dict[str, Any]) -> int:
    """The prompt tokens the upstream served from its cache (chat's or the Responses API's details)."""
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    return bounded_count(details.get("cached_tokens")) if isinstance(details, dict) else 0


def bounded_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """The upstream's usage with each count a whole number from 0 to MOST_COUNTED: a broken or hostile
    upstream's figures cannot overflow a budget or the ledger."""
    prompt, completion = bounded_count(usage.get("prompt_tokens")), bounded_count(usage.get("completion_tokens"))
    total = bounded_count(usage.get("total_tokens")) or prompt + completion
    return {**usage, "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def estimate_tokens(characters: int) -> int:
    """A rough token count for text the upstream never counted (about four characters a token)."""
    return max(1, round(characters / 4)) if characters else 0


class Call:
    """One upstream call as the hooks see it: what was asked, by whom under which policy (a stored token's own
    limits and models, or None), and a place for each hook's notes on it. It carries all a hook needs, so hooks
    work the same in a request and in a resumable stream's producer, which has no request of its own."""

    __slots__ = ("caller", "carried_tokens", "kind", "model", "notes", "payload", "policy", "upstream")

    def __init__(
        self,
        payload: dict[str, Any],
        kind: str = "chat",
        caller: str = "unknown",
        policy: StoredToken | None = None,
        carried_tokens: int = 0,
    ):
        self.payload = payload
        self.kind = kind  # "chat", "responses" or "embeddings"
        self.model: str = payload.get("model", "")
        self.caller = caller
        self.policy = policy
        self.carried_tokens = carried_tokens  # what the upstream reads again from a stored response it continues
        self.upstream: str | None = None  # the name of the upstream it was sent to last
        self.notes: dict[object, Any] = {}  # each hook keeps its own, under itself

    def prompt_estimate(self) -> int:
        """The prompt's tokens, estimated before the upstream counts them, from every string it will read: a
        prompt cannot hide from a budget in a tool's description or a tool call's arguments, nor in a stored
        response it continues."""
        text = sum(_text_length(self.payload.get(field)) for field in TEXT_FIELDS)
        schemas = sum(len(orjson.dumps(self.payload[field])) for field in SCHEMA_FIELDS if field in self.payload)
        return estimate_tokens(text + schemas) + self.carried_tokens

    def most_completion_tokens(self, default: int) -> int:
        """The most the reply can cost: the call's own token cap (for each of its choices), else `default`."""
        if self.kind == "embeddings":
            return 0
        if self.kind == "responses":
            return self.payload.get("max_output_tokens") or default
        cap = self.payload.get("max_completion_tokens") or self.payload.get("max_tokens") or default
        return cap * (self.payload.get("n") or 1)

    def estimated_usage(self, completion_characters: int = 0) -> dict[str, Any]:
        """Usage for a call the upstream never reported on (abandoned, or timed out)."""
        prompt, completion = self.prompt_estimate(), estimate_tokens(completion_characters)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class CallHook:
    """Told about every upstream chat call: limits, the usage ledger and metrics each are one.

    Each method is a no-op here; a hook overrides what it needs. Only `before_call`
    may refuse, by raising an ApiError; the others only take note. Every call that
    passed `before_call` ends in exactly one `on_usage` or `on_failure`.
    """

    def before_call(self, call: Call) -> dict[str, str] | None:
        """Called before the upstream is asked; raising an ApiError refuses the call. What it returns are headers
        for the caller's answer (a budget's remaining tokens, say)."""

    def on_attempt(self, call: Call, outcome: str, seconds: float) -> None:
        """One attempt at `call.upstream` ended after `seconds`: `ok`, or the cause of its failure."""

    def on_response(self, call: Call, seconds: float, streaming: bool) -> None:
        """The upstream answered (for a stream: sent its first event) after `seconds`."""

    def on_usage(self, call: Call, usage: dict[str, Any], estimated: bool) -> None:
        """The call finished, was abandoned or timed out; `usage` has prompt and completion tokens."""

    def on_failure(self, call: Call) -> None:
        """The call failed in a way that costs nothing (refused or unreachable upstream, a bad request)."""

    def on_error(self, call: Call, cause: str) -> None:
        """The upstream failed the call: `cause` is one word (timeout, unreachable, rate_limited, rejected_key,
        rejected_request, server_error, bad_answer, cut, unfinished, empty)."""

    def on_stream_open(self) -> None:
        """A stream to the upstream opened."""

    def on_stream_close(self) -> None:
        """That stream closed, finished or not."""


class Hooks:
    """The call hooks, told from this one place: asked before a call (the headers they add go to the caller's
    answer through `answer_headers`), then told what happened, the storage writes of each telling sent
    `together`."""

    def __init__(
        self,
        hooks: tuple[CallHook, ...] = (),
        answer_headers: Callable[[dict[str, str]], None] = lambda headers: None,
        together: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ):
        self.hooks = hooks
        self.answer_headers = answer_headers
        self._together = together

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def admit(self, call: Call) -> None:
        """Ask every hook; when one refuses, those that already agreed let the call go."""
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
                self.answer_headers(added)

    def tell(self, event: str, call: Call, *args: object) -> None:
        """Tell every hook `event` (`on_usage`, `on_failure`, ...) about `call`."""
        with self._together():
            for hook in self.hooks:
                getattr(hook, event)(call, *args)

    def stream_opened(self) -> None:
        for hook in self.hooks:
            hook.on_stream_open()

    def stream_closed(self) -> None:
        for hook in self.hooks:
            hook.on_stream_close()
