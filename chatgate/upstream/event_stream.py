"""The upstream's event stream: the SSE framing parser, its events, and an open stream whose usage is reported
exactly once."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import httpx2
import orjson

from chatgate.errors import ApiError, UpstreamFailed, UpstreamTimeout
from chatgate.upstream.continuation import Continuation, summed
from chatgate.upstream.hooks import Call, Hooks, Outcome, bounded_usage
from chatgate.upstream.stall_watch import StallWatch

log = logging.getLogger(__name__)

DONE = b"[DONE]"
_FIELDS = (b"data", b"event", b"id", b"retry")


class NotAnEventStream(ValueError):
    """A line that is neither an SSE field, a comment nor a blank line."""


def sse_events(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Each event of an SSE byte stream as (its bytes as they came, its data), framed as the spec says.

    Lines end with LF, CR or CRLF, even when a chunk boundary splits the CRLF; a blank
    line ends an event; `data:` lines of one event are joined with LF; comments and the
    other fields are kept in the event's bytes but not in its data, and an event with no
    data is no event. An event left open when the bytes end is still delivered: some
    servers close without the final blank line.
    """
    buffer = b""
    block: list[bytes] = []
    data: list[bytes] = []
    for chunk in chunks:
        lines = (buffer + chunk).splitlines(keepends=True)
        # A last line without LF is unfinished, or a CR whose LF may come in the next chunk.
        buffer = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            if (event := _take_line(line, block, data)) is not None:
                yield event
    for line in [*buffer.splitlines(keepends=True), b""]:
        if (event := _take_line(line, block, data)) is not None:
            yield event


def sse_data(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The data of each event of an SSE byte stream."""
    return (data for _, data in sse_events(chunks))


def _take_line(raw: bytes, block: list[bytes], data: list[bytes]) -> tuple[bytes, bytes] | None:
    """Add one line to the event being read; return the event when the line ends it."""
    line = raw.rstrip(b"\r\n")
    if not line:
        if not data:
            block.clear()  # comments and fields without data: nothing to deliver
            return None
        event = (b"".join(block) + raw, b"\n".join(data))
        block.clear()
        data.clear()
        return event
    block.append(raw)
    if line.startswith(b":"):
        return None
    field, _, value = line.partition(b":")
    if field not in _FIELDS:
        raise NotAnEventStream(line[:40])
    if field == b"data":
        data.append(value[1:] if value.startswith(b" ") else value)
    return None


def decode_json(data: bytes) -> dict[str, Any]:
    """An upstream JSON object, or UpstreamFailed."""
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamFailed("The upstream answered with something that is not valid JSON.") from None
    if not isinstance(decoded, dict):
        raise UpstreamFailed("The upstream answered with JSON that is not an object.")
    return decoded


def text_of(content: object) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of content parts; None when it
    holds no text at all (numbers, objects): a surface that documents a string never passes those on."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "".join(part["text"] for part in content if isinstance(part.get("text"), str))
    return None


class ChatEvents:
    """How a chat completion stream speaks: choices with deltas, a finish reason, usage in a last chunk."""

    @staticmethod
    def content(chunk: dict[str, Any]) -> str:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return ""
        deltas = (c.get("delta") for c in choices if isinstance(c, dict))
        return "".join(text_of(delta.get("content")) or "" for delta in deltas if isinstance(delta, dict))

    @staticmethod
    def usage(chunk: dict[str, Any]) -> dict[str, Any] | None:
        usage = chunk.get("usage")
        return usage if isinstance(usage, dict) else None

    @staticmethod
    def finished(chunk: dict[str, Any]) -> bool:
        choices = chunk.get("choices")
        return isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices)

    @staticmethod
    def answer(chunk: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        """The answer as the hooks hear of it: the first chunk's id and model, the finishing chunk's choices."""
        return {**first, "choices": chunk.get("choices")}


RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


def response_usage(response: dict[str, Any]) -> dict[str, Any] | None:
    """A Responses API usage object in the chat vocabulary the ledger and the limits speak."""
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    # Named only: whoever tells the hooks bounds the counts, as for a chat completion's usage.
    return {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "prompt_tokens_details": usage.get("input_tokens_details"),
    }


class ResponseEvents:
    """How a Responses API stream speaks: typed events, text deltas, usage in the final response."""

    @staticmethod
    def content(chunk: dict[str, Any]) -> str:
        return text_of(chunk.get("delta")) or "" if chunk.get("type") == "response.output_text.delta" else ""

    @staticmethod
    def usage(chunk: dict[str, Any]) -> dict[str, Any] | None:
        if chunk.get("type") in RESPONSE_ENDS and isinstance(chunk.get("response"), dict):
            return response_usage(chunk["response"])
        return None

    @staticmethod
    def finished(chunk: dict[str, Any]) -> bool:
        return chunk.get("type") in RESPONSE_ENDS

    @staticmethod
    def answer(chunk: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        """The answer as the hooks hear of it: the final event's response."""
        response = chunk.get("response")
        return response if isinstance(response, dict) else first


EventKind = type[ChatEvents] | type[ResponseEvents]  # how the stream speaks: chat completions or Responses


class StreamEvent:
    """One upstream SSE event: its bytes as they came, its JSON data, and the decoded chunk."""

    __slots__ = ("block", "chunk", "kind", "raw")

    def __init__(self, block: bytes, raw: bytes, chunk: dict[str, Any], kind: EventKind = ChatEvents):
        self.block = block
        self.raw = raw
        self.chunk = chunk
        self.kind = kind

    @classmethod
    def of(cls, chunk: dict[str, Any], kind: EventKind = ChatEvents) -> StreamEvent:
        """An event made here (a continuation's chunk, rewritten), framed as the upstream frames its own."""
        raw = orjson.dumps(chunk)
        return cls(b"data: " + raw + b"\n\n", raw, chunk, kind)

    @property
    def carries_tools(self) -> bool:
        """Whether it says a tool call or function arguments (a stream that does is never continued)."""
        for choice in self.chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("tool_calls") or delta.get("function_call")):
                return True
        return False

    @property
    def content(self) -> str:
        return self.kind.content(self.chunk)

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.kind.usage(self.chunk)

    @property
    def finished(self) -> bool:
        return self.kind.finished(self.chunk)


class StreamWatcher(Protocol):
    """Shown each event of a stream as it is read, then told, once, whether the stream came to its end whole."""

    def add(self, event: StreamEvent) -> None: ...

    def ended(self, whole: bool) -> None: ...


class EventStream:
    """An open upstream stream whose first event has already been read.

    Iterating yields `StreamEvent`s; a cut, a timeout or garbage raises an ApiError.
    A stream that ends before any choice finished is a failure too. `close()`
    closes the upstream connection at once, and reports the usage exactly once:
    the upstream's figures when it sent them, else an estimate marked as such.
    """

    def __init__(
        self,
        response: httpx2.Response,
        timeout: float,
        call: Call,
        hooks: Hooks | None = None,
        started: float | None = None,
        kind: EventKind = ChatEvents,
        continuation: Continuation | None = None,
        stall_watch: StallWatch | None = None,
    ):
        self._response, self._timeout, self._kind, self._call = response, timeout, kind, call
        self._events = sse_events(response.iter_bytes())
        self._hooks = hooks or Hooks()
        self._closed = False
        self._completion_chars = 0
        self.finished = False
        self.usage: dict[str, Any] | None = None
        self.reported_usage: dict[str, Any] | None = None  # what the hooks were told: real usage, or an estimate
        self.stopped_as: str | None = None  # why `stop` ended it early, if it did
        self._cause: str | None = None  # how the upstream failed it, if it did
        self._answer: dict[str, Any] | None = None  # what it said of its answer: id, model, finishing choices
        self._watcher: StreamWatcher | None = None
        self._whole = False  # read to its end, finished
        self._pending: collections.deque[StreamEvent] = collections.deque()  # read, not yet taken
        self._cut_after_pending: ApiError | None = None  # a cut that comes once the pending events are taken
        self._call_usage: dict[str, Any] | None = None  # the usage the current call's upstream reported
        # How a cut reply is finished by another call (upstream.continuation), and who ends a stalled stream.
        self._going_on, self._stall_watch, self._stalled = continuation, stall_watch, False
        self.heard_at = time.monotonic()  # when the upstream last sent an event
        self.headers = response.headers
        self._started = started  # when the call was sent: its first event says how long the upstream took
        self._first = self._next_event()
        if self._first is None:
            self._failed("empty")
            raise UpstreamFailed("The upstream ended the stream without sending any event.")
        if stall_watch is not None:
            stall_watch.watch(self)

    @property
    def first(self) -> StreamEvent | None:
        """The first event, before iteration has taken it."""
        return self._first

    def __iter__(self) -> Iterator[StreamEvent]:
        event = self._first
        self._first = None
        while True:
            if event is not None:
                yield event
            try:
                event = self._next_event()
                if event is None and not self.finished and self.stopped_as is None:
                    self._failed("unfinished")
                    raise UpstreamFailed("The upstream stream ended before the reply was finished.")
            except ApiError as cut:
                if not self._may_continue():
                    raise
                self._continue(cut)
                event = None  # the next comes from the continuation
                continue
            if event is None:
                break
        self._whole = self.finished and self.stopped_as is None
        self._report_usage()  # on file before the surface sends its last frame

    @property
    def continuations(self) -> list[tuple[str | None, int]]:
        """Each call that continued a cut reply: its upstream, and the characters it went on after."""
        return self._going_on.made if self._going_on else []

    def _may_continue(self) -> bool:
        """Whether a cut here is finished by another call: the reply unfinished, not stopped, and the continuation
        willing (text said, no tool call, continuations left)."""
        return bool(self._going_on and not self.finished and self.stopped_as is None and self._going_on.may_go_on())

    def _continue(self, cut: ApiError) -> None:
        """Go on reading from a call that continues the reply (its own, reserved and settled under the caller's
        budgets); when it cannot be made (a budget refuses it, no upstream answers), the stream ends with why."""
        assert self._going_on is not None
        try:
            response, call = self._going_on.open(self._call.upstream, self.reported_usage)
        except ApiError:
            self._tell_watcher(False)
            raise
        upstream, after = self._going_on.made[-1]
        log.info(
            "stream continued on %s after %d characters (%s)",
            upstream,
            after,
            cut.message,
            extra={"fields": {"upstream": upstream, "characters": after, "cut": cut.message}},
        )
        self._response, self._events, self._call = response, sse_events(response.iter_bytes()), call
        self._closed, self._cause, self.reported_usage, self._call_usage = False, None, None, None
        self._completion_chars, self._started = 0, time.perf_counter()
        self._stalled, self.heard_at = False, time.monotonic()
        if self._stall_watch is not None:
            self._stall_watch.watch(self)

    @classmethod
    def replayed(cls, events: bytes | Iterator[bytes], call: Call, kind: EventKind = ChatEvents) -> EventStream:
        """A stream that says again what was said (`events`, as SSE, whole or as they come): no upstream, no hook
        told."""
        return cls(httpx2.Response(200, content=events), 0, call, kind=kind)

    def watch(self, watcher: StreamWatcher) -> None:
        """Show `watcher` every chunk from the first, and tell it how the stream ended when it closes."""
        self._watcher = watcher
        if self._first is not None:
            watcher.add(self._first)

    def stall(self) -> None:
        """End the stream as cut, from another thread: the upstream sent nothing for too long."""
        self._stalled = True
        self._response.close()

    def stop(self, reason: str) -> None:
        """End the stream early, from another thread: its reader sees the end, not a failure."""
        self.stopped_as = reason
        self._response.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._response.close()
        if self._stall_watch is not None:
            self._stall_watch.forget(self)
        self._report_usage()  # once: a no-op when the end of the stream reported it already
        if not (self._cause and self._may_continue()):  # a cut that another call finishes is not the end
            self._tell_watcher(self._whole)

    def _tell_watcher(self, whole: bool) -> None:
        """Tell the watcher, once, how the stream ended."""
        if (watcher := self._watcher) is not None:
            self._watcher = None
            watcher.ended(whole)

    @property
    def model(self) -> str:
        return self._call.model

    @property
    def caller(self) -> str:
        return self._call.caller

    def in_conversation(self, session_id: str) -> None:
        """Say which session the call belongs to (for its trace)."""
        self._call.conversation = session_id

    @property
    def answer_headers(self) -> dict[str, str]:
        """What the hooks (and a fallback) added to the caller's answer."""
        return self._call.answer_headers

    def _failed(self, cause: str) -> None:
        self._cause = cause
        self.close()

    def _report_usage(self) -> None:
        """Tell the hooks, once a call, what the current call used: the upstream's figures, else an estimate."""
        if self.reported_usage is not None or not self._hooks:
            return
        if self._call_usage:
            usage, estimated = bounded_usage(self._call_usage), False
        else:
            usage, estimated = self._call.estimated_usage(self._completion_chars), True
        self.reported_usage = usage
        ended = "answered" if self.finished and self._cause is None else "cut"
        outcome = Outcome(ended, usage, estimated=estimated, cause=self._cause, answer=self._answer)
        with self._hooks.together():  # the watcher's writes (a cache entry) travel with the hooks'
            self._hooks.finish(self._call, outcome)
            if ended == "answered" or not self._may_continue():
                self._tell_watcher(ended == "answered" and (self._call_usage is not None or self._whole))

    @property
    def total_usage(self) -> dict[str, Any] | None:
        """What the whole stream used as the hooks were told: every call's, summed (a continued stream)."""
        carried = self._going_on.carried if self._going_on else None
        return summed(carried, self.reported_usage) if self.reported_usage is not None else carried

    def _next_event(self) -> StreamEvent | None:
        event = self._take()
        if event is None:
            return None
        if self._started is not None:
            self._call.answered_after, self._started = time.perf_counter() - self._started, None
        if event.usage:
            self.usage = event.usage
        if self._watcher is not None:
            self._watcher.add(event)
        if self._answer is None:
            self._answer = {"id": event.chunk.get("id"), "model": event.chunk.get("model")}
        if event.finished:
            self.finished = True
            self._answer = self._kind.answer(event.chunk, self._answer)
        if self._call.text is not None:
            self._call.text.append(event.content)
        if self._going_on:
            self._going_on.heard(event.chunk, event.content, event.carries_tools)
        if self.finished and self._call_usage and not self._pending:
            self._report_usage()  # before the event that carries it is relayed: a client never sees more
        if self._hooks:
            self._completion_chars += len(event.content)
        return event

    def _take(self) -> StreamEvent | None:
        """The next event to pass on: the upstream's own, or, past a seam, the continuation's as rewritten. A cut
        while a continuation's start is held back passes that start on first."""
        if not self._pending and (cut := self._cut_after_pending) is not None:
            self._cut_after_pending = None
            raise cut
        while not self._pending:
            seam = self._going_on.seam if self._going_on else None
            try:
                read = self._read_event()
            except ApiError as cut:
                if seam is None or seam.open:
                    raise
                self._pending.extend(StreamEvent.of(chunk, self._kind) for chunk in seam.flush())
                if not self._pending:
                    raise
                self._cut_after_pending = cut
                break
            if read is None:
                if seam is not None and not seam.open:  # ended while its start was held back
                    self._pending.extend(StreamEvent.of(chunk, self._kind) for chunk in seam.flush())
                if not self._pending:
                    return None
                break
            if read.usage:
                self._call_usage = read.usage  # this call's own figures, for the hooks
            if seam is None:
                self._pending.append(read)
            else:
                self._pending.extend(StreamEvent.of(chunk, self._kind) for chunk in seam.rewrite(read.chunk))
        return self._pending.popleft()

    def _read_event(self) -> StreamEvent | None:
        """The next event from the upstream's connection (None at its end); a cut, a timeout or garbage is an
        ApiError, the call reported as it ended."""
        if self.stopped_as is not None:
            return None
        try:
            block, data = next(self._events, (b"", DONE))
            self.heard_at = time.monotonic()
            if data == DONE:
                return None
            event = StreamEvent(block, data, decode_json(data), self._kind)
        except NotAnEventStream:
            self._failed("bad_answer")
            raise UpstreamFailed("The upstream answered with something that is not an event stream.") from None
        except httpx2.TimeoutException:
            self._failed("timeout")
            raise UpstreamTimeout(f"The upstream stopped sending for more than {self._timeout:g} s.") from None
        except httpx2.HTTPError:
            if self.stopped_as is not None:  # our own stop closed it under the reader
                return None
            if self._stalled:
                self._failed("stall")
                raise UpstreamTimeout("The upstream stopped sending in the middle of the reply.") from None
            self._failed("cut")
            raise UpstreamFailed("The upstream connection was cut in the middle of the reply.") from None
        except ApiError:
            self._failed("bad_answer")
            raise
        if isinstance(event.chunk.get("error"), dict) and not event.chunk.get("choices"):  # an error event
            self._failed("error_event")
            raise UpstreamFailed("The upstream sent an error in the middle of the reply.")
        return event
