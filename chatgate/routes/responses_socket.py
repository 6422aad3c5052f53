"""The Responses API's WebSocket mode on /v1/responses: one connection, many `response.create` events, each a
streamed response of its own (admitted, reserved, relayed to the upstream as an HTTP stream, and settled), its
events sent in order as text messages.

Like OpenAI's, a connection remembers its last response: a `store: false` one (which the upstream cannot find
again) is built on by sending only the new input with its `previous_response_id`, and reaches the upstream with
the whole input. A `generate: false` create, a client's warm-up, is answered here without a call."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any

import orjson
from flask import Blueprint

from chatgate.config import current_settings
from chatgate.errors import ApiError, BadRequest, NotFound, Unauthorized, UpgradeRequired
from chatgate.guard.access import admit_again
from chatgate.guard.concurrency import give_back_slot, holding_slot
from chatgate.guard.rate_limits import count_call
from chatgate.models import offered_model
from chatgate.routes.responses import open_stream, relayed_events
from chatgate.routes.schemas.openai import OpenAIErrorResponse, render_openai_error
from chatgate.routes.schemas.responses import ResponseRequest
from chatgate.upstream import EventStream, wire
from chatgate.web.lifecycle import shutting_down
from chatgate.web.openapi import documented
from chatgate.web.recent_calls import begin_call, each_call_recorded
from chatgate.web.streaming import relay
from chatgate.web.validation import validated
from chatgate.web.websocket import (
    GOING_AWAY,
    NORMAL_CLOSURE,
    POLICY_VIOLATION,
    ConnectionClosed,
    Server,
    accept,
    handed_over,
)

bp = Blueprint("responses_socket", __name__)

LIMIT_REACHED = "websocket_connection_limit_reached"
LOOK_FOR_STOP = 1.0
NOTHING_USED = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


@bp.route("/responses", websocket=True)
def responses_socket():
    """Open a Responses API WebSocket: send `response.create` events, receive each response's events."""
    connection = accept(current_settings().max_request_bytes)
    give_back_slot()  # an open connection holds no slot; each response it carries does, while it runs
    begin_call()
    ResponsesSocket(connection).serve()
    each_call_recorded()
    return handed_over(connection)


@bp.get("/responses")
@documented(responses={426: OpenAIErrorResponse, 401: OpenAIErrorResponse, 403: OpenAIErrorResponse})
def responses_socket_without_upgrade():
    """Open a Responses API WebSocket: send `response.create` events, receive each response's events."""
    # The same path and method as the WebSocket, asked without the upgrade: say what it is (426, not 405).
    raise UpgradeRequired(
        "GET /v1/responses is the Responses API's WebSocket mode: open it as a WebSocket (Upgrade: websocket), "
        "or create a response with POST /v1/responses.",
        headers={"Upgrade": "websocket"},
    )


@dataclasses.dataclass
class LastResponse:
    """The connection's last response that the upstream does not keep: what it was asked and what it said."""

    id: str
    input: list[Any]
    output: list[Any]


class ResponsesSocket:
    """One connection's loop: a create event at a time, until the client closes, goes idle or the connection's
    lifetime is over."""

    def __init__(self, connection: Server):
        self.connection = connection
        settings = current_settings()
        self.idle, self.ends_at = settings.websocket_idle_seconds, time.monotonic() + settings.websocket_max_seconds
        self.last: LastResponse | None = None
        self.running: EventStream | None = None  # the response being relayed, if any
        threading.Thread(target=self._stop_when_client_leaves, name="websocket-watch", daemon=True).start()

    def _stop_when_client_leaves(self) -> None:
        """The relay waits on the upstream, not on the client: a client that leaves mid-response is seen here,
        when the connection's reader ends, and the upstream call ends with it."""
        self.connection.thread.join()
        if (running := self.running) is not None:
            running.stop("client left")

    def serve(self) -> None:
        try:
            while (message := self._next_message()) is not None:
                try:
                    if (event := _create_event(message)) is not None:
                        admit_again()  # a token revoked since the upgrade takes no new response
                        self._respond(event)
                except Unauthorized as refusal:
                    self._send(error_event(refusal))
                    self.connection.close(POLICY_VIOLATION, "no longer authenticated")
                    return
                except ApiError as error:
                    self._send(error_event(error))
        except ConnectionClosed:
            pass

    def _next_message(self) -> str | bytes | None:
        """The next event, or None once the connection should end: idle, past its lifetime, or its server stopping
        (each said in the mode's own way). An idle connection looks every LOOK_FOR_STOP seconds whether its
        server is stopping, so that a restart closes it at once instead of waiting for it."""
        idle_until = time.monotonic() + self.idle
        while not shutting_down():
            now = time.monotonic()
            if now >= self.ends_at:
                return self._lifetime_over()
            if now >= idle_until:
                self.connection.close(NORMAL_CLOSURE, f"idle for {self.idle:g} seconds")
                return None
            message = self.connection.receive(timeout=min(idle_until, self.ends_at, now + LOOK_FOR_STOP) - now)
            if message is not None:
                return message if time.monotonic() < self.ends_at else self._lifetime_over()
        self.connection.close(GOING_AWAY, "the server is restarting: open a new connection")
        return None

    def _lifetime_over(self) -> None:
        limit = BadRequest(
            f"Responses websocket connection limit reached ({current_settings().websocket_max_seconds:g} "
            "seconds). Create a new websocket connection to continue.",
            code=LIMIT_REACHED,
        )
        self._send(error_event(limit))
        self.connection.close(GOING_AWAY, "connection lifetime reached")

    def _respond(self, event: dict[str, Any]) -> None:
        warm_up = event.pop("generate", True) is False
        body = validated(ResponseRequest, event)
        count_call()  # each response counts against the request rate, as a POST would
        begin_call()
        if body.model is not None:
            offered_model(body.model, "openai")
        payload = self._whole(body.model_dump(exclude_unset=True, exclude_none=True) | {"stream": True})
        if warm_up:
            return self._warmed_up(payload)
        with holding_slot():
            upstream, completed, _ = open_stream(payload)
            self.running = upstream
            seen = {"sequence": -1}
            finished: dict[str, Any] = {}

            def on_completed(response: dict[str, Any]) -> None:
                finished.update(response)
                completed(response)

            frames = relayed_events(upstream, seen, on_completed, lambda event: event.raw.decode())
            events = relay(upstream, frames, error_event, "/v1/responses (WebSocket)", time.perf_counter())
            try:
                for text in events:
                    self._send(text)
            finally:
                self.running = None
                events.close()
        if payload.get("store") is False and finished.get("id"):
            self.last = LastResponse(finished["id"], payload.get("input", []), finished.get("output") or [])

    def _whole(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request as the upstream must see it: a `previous_response_id` naming this connection's last
        unstored response becomes that response's input and output before the new input."""
        previous = payload.get("previous_response_id")
        if payload.get("store") is False:
            payload["input"] = _items(payload.get("input"))
            if previous is not None:
                if self.last is None or previous != self.last.id:
                    raise NotFound(
                        f"Previous response with id '{previous}' not found.",
                        code="previous_response_not_found",
                        param="previous_response_id",
                    )
                del payload["previous_response_id"]
                payload["input"] = self.last.input + self.last.output + payload["input"]
        return payload

    def _warmed_up(self, payload: dict[str, Any]) -> None:
        """A response that generates nothing: remembered (when unstored) so the next can build on it."""
        # OpenAI's whole response object, as the demo and the fake upstream write it: nothing said, nothing used.
        made = wire.response_object(payload, "", response_id=f"resp_{uuid.uuid4().hex}")
        response = {**made, "output": [], "usage": NOTHING_USED}
        for number, kind in enumerate(("response.created", "response.completed")):
            self._send(orjson.dumps({"type": kind, "response": response, "sequence_number": number}).decode())
        if payload.get("store") is False:
            self.last = LastResponse(response["id"], payload["input"], [])

    def _send(self, text: str) -> None:
        self.connection.send(text)


def _create_event(message: str | bytes) -> dict[str, Any] | None:
    """A `response.create` event's request, or None for an acknowledgement that wants no answer."""
    try:
        event = orjson.loads(message)
    except orjson.JSONDecodeError:
        raise BadRequest('Each message must be a JSON event, such as {"type": "response.create", ...}.') from None
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "response.processed":  # a client saying it has handled a response (Codex does)
        return None
    if kind != "response.create":
        raise BadRequest(f"Unsupported event type {kind!r}: this service takes 'response.create'.", param="type")
    del event["type"]
    event.pop("stream", None)  # implicit on a WebSocket
    if event.get("background"):
        raise BadRequest("background is not supported over WebSocket.", param="background")
    if "stream_id" in event:
        raise BadRequest("stream_id is not supported: one response at a time on a connection.", param="stream_id")
    return event


def _items(given: Any) -> list[Any]:
    """A request's input as a list of items (a string is one user message)."""
    if given is None:
        return []
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return list(given)


def error_event(error: ApiError) -> str:
    """The mode's error event: the HTTP status the same request would have had, and OpenAI's error object."""
    fields, status = render_openai_error(error)
    return orjson.dumps({"type": "error", "status": status, **fields}).decode()
