"""Finishing a reply the upstream cut: what may be continued, the request that continues it, and the seam.

A chat completion stream cut after text was sent (a dropped connection, an error event, a stall) is asked again
of an upstream: the original request, the text so far as the assistant's partial reply, and an instruction to go
on exactly where it stopped. What the continuation repeats of the text so far is removed at the seam. Tool calls,
structured output, several choices and log probabilities are never continued: a seam in those is a broken answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from chatgate.upstream.hooks import Call

INSTRUCTION = (
    "Your previous reply was cut off mid-way. Continue it exactly where it stopped: do not repeat any of it, do "
    "not start over, do not say that you are continuing; write only the rest."
)
SEAM_WINDOW = 64  # characters of the continuation held back to find what it repeats of the text so far
LONGEST_OVERLAP = 200  # the most of the text so far a continuation is checked for repeating


def continuable(payload: dict[str, Any]) -> bool:
    """Whether a stream of this request may be continued: text only, one choice, no log probabilities."""
    response_format = payload.get("response_format")
    structured = isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object")
    several = (payload.get("n") or 1) > 1
    return not (structured or several or payload.get("logprobs") or payload.get("top_logprobs"))


def continuation_payload(payload: dict[str, Any], partial: str) -> dict[str, Any]:
    """The request that continues `partial`, the reply so far to `payload`."""
    messages = [
        *payload.get("messages", []),
        {"role": "assistant", "content": partial},
        {"role": "user", "content": INSTRUCTION},
    ]
    return {**payload, "messages": messages}


def without_overlap(partial: str, continuation: str) -> str:
    """`continuation` without what it repeats of the end of `partial` (the longest end of one that starts the
    other), so that the two read as one reply."""
    tail = partial[-LONGEST_OVERLAP:]
    for size in range(min(len(tail), len(continuation)), 0, -1):
        if tail.endswith(continuation[:size]):
            return continuation[size:]
    return continuation


def summed(carried: dict[str, Any] | None, usage: dict[str, Any]) -> dict[str, Any]:
    """`usage` with the counts of the calls before it added (a continued stream's usage is the sum)."""
    if not carried:
        return usage
    fields = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {**usage, **{field: (usage.get(field) or 0) + (carried.get(field) or 0) for field in fields}}


class Seam:
    """A continuation's chunks made to read as the rest of the first stream: the first stream's id, creation time
    and model, no second role, what it repeats of the text so far removed, and its usage summed with the calls
    before it."""

    def __init__(self, head: dict[str, Any], partial: str, carried: dict[str, Any] | None):
        self.head, self.partial, self.carried = head, partial, carried
        self.held: list[str] = []  # the continuation's first text, until there is enough to find the overlap
        self.open = False  # past the seam: chunks go through as they come

    def rewrite(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks to pass on for one chunk of the continuation (none while its start is held back)."""
        chunk = {**chunk, **self.head}
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = summed(self.carried, chunk["usage"])
        if self.open:
            return [chunk]
        choices = chunk.get("choices") if isinstance(chunk.get("choices"), list) else []
        choice: dict[str, Any] = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta: dict[str, Any] = choice["delta"] if isinstance(choice.get("delta"), dict) else {}
        text = delta.get("content")
        ending = bool(choice.get("finish_reason")) or not choices
        self.held.append(text if isinstance(text, str) else "")
        if not ending and len("".join(self.held)) < SEAM_WINDOW:
            return []
        return self.flush(chunk if ending else None, choice, delta)

    def flush(
        self,
        ending: dict[str, Any] | None = None,
        choice: dict[str, Any] | None = None,
        delta: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Past the seam: the held text without its overlap, then the chunk that ended the holding, if any."""
        self.open = True
        rest = without_overlap(self.partial, "".join(self.held))
        out = []
        if rest:
            text = {"index": 0, "delta": {"content": rest}, "finish_reason": None}
            out.append({**self.head, "object": "chat.completion.chunk", "choices": [text]})
        if ending is not None:
            if choice:  # its finish, without the text already passed on
                kept = {key: value for key, value in (delta or {}).items() if key not in ("content", "role")}
                ending = {**ending, "choices": [{**choice, "delta": kept}]}
            out.append(ending)
        return out


# Opens the call that continues a cut reply (given its text so far, and the upstream that cut it): the upstream's
# response, and the call.
Opener = Callable[[str, str | None], tuple[httpx2.Response, Call]]


class Continuation:
    """A stream's way to finish a cut reply, and its record: what opens the next call and how many it may open,
    the text said so far, the first chunk's id, time and model, whether a tool call was said, the usage of the calls
    before, the seam of the latest, and each continuation made (its upstream, the characters it went on after)."""

    def __init__(self, opener: Opener, most: int):
        self.opener, self.most = opener, most
        self.said: list[str] = []
        self.head: dict[str, Any] = {}
        self.tools = False
        self.carried: dict[str, Any] | None = None
        self.seam: Seam | None = None
        self.made: list[tuple[str | None, int]] = []

    def heard(self, chunk: dict[str, Any], content: str, carries_tools: bool) -> None:
        """One event of the stream passed on: its text kept, the first one's id, time and model."""
        if not self.head:
            self.head = {key: chunk[key] for key in ("id", "created", "model") if key in chunk}
        self.said.append(content)
        self.tools = self.tools or carries_tools

    def may_go_on(self) -> bool:
        """Whether a cut now may be continued: text was said, no tool call, continuations left."""
        return any(self.said) and not self.tools and len(self.made) < self.most

    def open(self, cut_on: str | None, used: dict[str, Any] | None) -> tuple[httpx2.Response, Call]:
        """Open the call that goes on from the text so far (the cut call having `used` this), and its seam."""
        partial = "".join(self.said)
        self.carried = summed(self.carried, used or {})
        response, call = self.opener(partial, cut_on)
        self.made.append((call.upstream, len(partial)))
        self.seam = Seam(self.head, partial, self.carried)
        return response, call
