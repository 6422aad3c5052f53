"""What the guard plugs into every upstream call: a hook is asked `before` it starts (and may refuse it), and told
once, `after`, how it ended."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from chatgate.errors import ApiError
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

    __slots__ = (
        "admitted",
        "answer_headers",
        "answered_after",
        "attempts",
        "avoid",
        "caller",
        "carried_tokens",
        "continues",
        "conversation",
        "kind",
        "model",
        "notes",
        "payload",
        "policy",
        "text",
        "upstream",
    )

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
        self.answer_headers: dict[str, str] = {}  # what the hooks (and a fallback) add to the caller's answer
        self.attempts: list[Attempt] = []  # each upstream tried, in order
        self.answered_after: float | None = None  # seconds until the upstream answered (a stream: its first event)
        self.admitted = False  # between the hooks' `before` and their `after`
        self.conversation: str | None = None  # the session it belongs to, if any
        self.text: list[str] | None = None  # a list, when a hook wants a streamed reply's text kept as it comes
        self.continues: int | None = None  # a continuation: the characters of the cut reply it goes on from
        self.avoid: str | None = None  # the upstream tried last, if another can take it (the one that cut it)

    @property
    def streaming(self) -> bool:
        return bool(self.payload.get("stream"))

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


class Attempt(NamedTuple):
    """One try at one upstream: its name, how it ended (`ok`, or the cause of its failure), how long it took, and
    when it began (seconds since the epoch)."""

    upstream: str
    outcome: str
    seconds: float
    began: float


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended, as `after` hears it.

    `ended` is `answered` (the upstream finished its reply), `cut` (it ended before: timed out, broken off, or
    left by its client; it costs what it used) or `failed` (it cost nothing: refused, unreachable, a bad
    request, or moved to a fallback model). `usage` is what it cost (None when failed), `estimated` when the
    upstream never said; `cause` is the upstream's failure in one word (timeout, unreachable, rate_limited,
    rejected_key, rejected_request, server_error, bad_answer, cut, unfinished, empty, resting), or None when
    the upstream did not fail. `answer` is the upstream's answer (for a stream: its id, model and finishing
    choices), when it gave one.
    """

    ended: str
    usage: dict[str, Any] | None = None
    estimated: bool = False
    cause: str | None = None
    answer: dict[str, Any] | None = None  # what the upstream said of its answer: id, model, finish reasons


FAILED = Outcome("failed")  # given back: a hook refused the call, or it moved to a fallback model


class CallHook:
    """Told about every upstream call: limits, the usage ledger and metrics each are one. Every call that passed
    `before` ends in exactly one `after`."""

    def before(self, call: Call) -> dict[str, str] | None:
        """Called before the upstream is asked; raising an ApiError refuses the call. What it returns are headers
        for the caller's answer (a budget's remaining tokens, say)."""

    def after(self, call: Call, outcome: Outcome) -> None:
        """The call ended: `call.attempts` and `call.answered_after` say how it went, `outcome` what it cost."""


def give_answer_headers(error: BaseException, call: Call) -> None:
    """Make `error`, when it is our own, carry what the hooks added to the call's answer (its own headers first): a
    refusal or a failure still tells the caller its budgets."""
    if isinstance(error, ApiError):
        error.headers = {**call.answer_headers, **error.headers}


class Hooks:
    """The call hooks, told from this one place: asked before a call (the headers they add are kept on the call
    for its answer), then told once how it ended, the storage writes of that telling sent `together`."""

    def __init__(
        self,
        hooks: tuple[CallHook, ...] = (),
        together: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ):
        self.hooks = hooks
        self.together = together  # a block whose storage writes travel together

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def admit(self, call: Call) -> None:
        """Ask every hook; when one refuses, those that already agreed let the call go, and the refusal carries
        what they had added to the answer (its own headers first)."""
        for index, hook in enumerate(self.hooks):
            try:
                call.answer_headers.update(hook.before(call) or {})
            except BaseException as refusal:
                for earlier in self.hooks[:index]:
                    earlier.after(call, FAILED)
                give_answer_headers(refusal, call)
                raise
        call.admitted = True

    def finish(self, call: Call, outcome: Outcome) -> None:
        """Tell every hook how `call` ended: once for each time it was admitted (a later telling is a no-op)."""
        if not call.admitted:
            return
        call.admitted = False
        with self.together():
            for hook in self.hooks:
                hook.after(call, outcome)
        call.attempts, call.answered_after = [], None  # a call moved to a fallback model starts afresh
