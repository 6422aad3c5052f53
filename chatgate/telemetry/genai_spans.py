"""A CLIENT span for every upstream attempt, in OpenTelemetry's GenAI semantic conventions: made when the call
ends, from what the call noted (each attempt's upstream, start and length; the answer; the usage), so that a call
pays for its spans once, and a span never holds a key or a token. Prompts and replies only when
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true."""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from chatgate.config import Settings, UpstreamSpec
from chatgate.guard.pricing import Prices
from chatgate.telemetry.request_span import current_span
from chatgate.upstream import Call, CallHook, Outcome
from chatgate.upstream.hooks import Attempt, cached_tokens

# The request's parameters the conventions name: the attribute each goes to.
REQUEST_PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}
OPERATIONS = {"chat": "chat", "responses": "chat", "embeddings": "embeddings"}


def _server(upstream: UpstreamSpec) -> tuple[str, int]:
    url = urllib.parse.urlsplit(upstream.base_url or "https://api.openai.com/v1")
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


class GenAiSpans(CallHook):
    """Trace each upstream attempt of a call under the request that made it."""

    def __init__(self, tracer: Tracer, settings: Settings, prices: Prices):
        self.tracer, self.prices = tracer, prices
        self.capture = settings.capture_message_content
        self.upstreams = {u.name: (u.kind, _server(u)) for u in settings.upstream_list}

    def before(self, call: Call) -> None:
        # The request's span, kept with the call: a resumable stream ends outside its request.
        call.notes[self] = current_span()
        if self.capture and call.streaming:
            call.text = []  # a streamed reply is kept as it comes, for gen_ai.output.messages

    def after(self, call: Call, outcome: Outcome) -> None:
        parent = call.notes.pop(self, None)
        context = trace.set_span_in_context(parent) if parent is not None else None
        for index, attempt in enumerate(call.attempts):
            last = index == len(call.attempts) - 1
            span = self.tracer.start_span(
                f"{OPERATIONS.get(call.kind, call.kind)} {call.model}",
                context=context,
                kind=SpanKind.CLIENT,
                start_time=int(attempt.began * 1e9),
                attributes=self._attributes(call, attempt),
            )
            if attempt.outcome != "ok":
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", attempt.outcome)
            elif last:
                span.set_attributes(self._answered(call, outcome))
                if outcome.cause:
                    span.set_status(Status(StatusCode.ERROR))
                    span.set_attribute("error.type", outcome.cause)
            span.end(end_time=int((attempt.began + attempt.seconds) * 1e9))

    def _attributes(self, call: Call, attempt: Attempt) -> dict[str, Any]:
        kind, (host, port) = self.upstreams.get(attempt.upstream, ("openai", ("", 0)))
        payload = call.payload
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATIONS.get(call.kind, call.kind),
            "gen_ai.provider.name": "azure.ai.openai" if kind == "azure" else "openai",
            "gen_ai.request.model": call.model,
            "server.address": host,
            "server.port": port,
            "chatgate.upstream": attempt.upstream,
            "chatgate.api": call.kind,
            "chatgate.caller": call.caller,
        }
        if call.conversation:
            attributes["gen_ai.conversation.id"] = call.conversation
        if call.continues is not None:  # it finishes a reply another call's stream cut after this many characters
            attributes["chatgate.continues_after_characters"] = call.continues
        for field, name in REQUEST_PARAMETERS.items():
            if isinstance(value := payload.get(field), int | float) and not isinstance(value, bool):
                attributes[name] = value
        if isinstance(stop := payload.get("stop"), str | list):
            attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
        if self.capture:
            messages = payload.get("messages") or payload.get("input")
            attributes["gen_ai.input.messages"] = orjson.dumps(messages).decode()
        return attributes

    def _answered(self, call: Call, outcome: Outcome) -> dict[str, Any]:
        """What the answer says of itself: its model, id, finish reasons, usage, cost; for a stream, how long until
        its first chunk."""
        answer, usage = outcome.answer or {}, outcome.usage or {}
        attributes: dict[str, Any] = {}
        if isinstance(model := answer.get("model"), str):
            attributes["gen_ai.response.model"] = model
        if isinstance(answer_id := answer.get("id"), str):
            attributes["gen_ai.response.id"] = answer_id
        if reasons := _finish_reasons(answer):
            attributes["gen_ai.response.finish_reasons"] = reasons
        if usage:
            attributes["gen_ai.usage.input_tokens"] = int(usage.get("prompt_tokens") or 0)
            attributes["gen_ai.usage.output_tokens"] = int(usage.get("completion_tokens") or 0)
            attributes["gen_ai.usage.cache_read.input_tokens"] = cached_tokens(usage)
            sums = {**usage, "cached_prompt_tokens": cached_tokens(usage)}
            if (cost := self.prices.cost(call.model, sums)) is not None:
                attributes["chatgate.cost.usd"] = cost
            attributes["chatgate.usage.estimated"] = outcome.estimated
        if call.streaming and call.answered_after is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = call.answered_after
        if self.capture and call.text is not None:
            output = [{"role": "assistant", "content": "".join(call.text)}]
            attributes["gen_ai.output.messages"] = orjson.dumps(output).decode()
        elif self.capture and (output := _output_messages(answer)):
            attributes["gen_ai.output.messages"] = orjson.dumps(output).decode()
        return attributes


def _finish_reasons(answer: dict[str, Any]) -> list[str]:
    choices = answer.get("choices")
    if isinstance(choices, list):
        return [str(c["finish_reason"]) for c in choices if isinstance(c, dict) and c.get("finish_reason")]
    status = answer.get("status")  # a Responses API answer: completed, incomplete, failed
    return [status] if isinstance(status, str) else []


def _output_messages(answer: dict[str, Any]) -> list[Any]:
    choices = answer.get("choices")
    if isinstance(choices, list):
        return [c.get("message") for c in choices if isinstance(c, dict) and c.get("message")]
    output = answer.get("output")
    return output if isinstance(output, list) else []
