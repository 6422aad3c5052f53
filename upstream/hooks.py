"""What the guard plugs into every upstream call: a hook may refuse a call before it starts."""

from __future__ import annotations


def _text_length(value) -> int:
    """The characters of text in a prompt of any surface: a string, message or input items, content parts,
    embedding inputs (a token id counts as four characters, one token)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return 4
    if isinstance(value, list):
        return sum(_text_length(item) for item in value)
    if isinstance(value, dict):
        return _text_length(value.get("content")) + _text_length(value.get("text"))
    return 0


def estimate_tokens(characters: int) -> int:
    """A rough token count for text the upstream never counted (about four characters a token)."""
    return max(1, round(characters / 4)) if characters else 0


class Call:
    """One upstream call as the hooks see it: what was asked, and a place for each hook's notes on it."""

    __slots__ = ("kind", "model", "notes", "payload")

    def __init__(self, payload: dict, kind: str = "chat"):
        self.payload = payload
        self.kind = kind  # "chat", "responses" or "embeddings"
        self.model: str = payload.get("model", "")
        self.notes: dict = {}

    def prompt_estimate(self) -> int:
        """The prompt's tokens, estimated from its text before the upstream counts them."""
        prompt = self.payload.get("messages") if self.kind == "chat" else self.payload.get("input")
        return estimate_tokens(_text_length(prompt) + _text_length(self.payload.get("instructions")))

    def most_completion_tokens(self, default: int) -> int:
        """The most the reply can cost: the call's own token cap (for each of its choices), else `default`."""
        if self.kind == "embeddings":
            return 0
        if self.kind == "responses":
            return self.payload.get("max_output_tokens") or default
        cap = self.payload.get("max_completion_tokens") or self.payload.get("max_tokens") or default
        return cap * (self.payload.get("n") or 1)

    def estimated_usage(self, completion_characters: int = 0) -> dict:
        """Usage for a call the upstream never reported on (abandoned, or timed out)."""
        prompt, completion = self.prompt_estimate(), estimate_tokens(completion_characters)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class CallHook:
    """Told about every upstream chat call: limits, the usage ledger and metrics each are one.

    Each method is a no-op here; a hook overrides what it needs. Only `before_call`
    may refuse, by raising an ApiError; the others only take note. Every call that
    passed `before_call` ends in exactly one `on_usage` or `on_failure`.
    """

    def before_call(self, call: Call) -> None:
        """Called before the upstream is asked; raising an ApiError refuses the call."""

    def on_response(self, call: Call, seconds: float, streaming: bool) -> None:
        """The upstream answered (for a stream: sent its first event) after `seconds`."""

    def on_usage(self, call: Call, usage: dict, estimated: bool) -> None:
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
