"""A real HTTP server that speaks OpenAI's wire format, with faults on demand.

Used by the in-process, live and browser tests (the benchmark has its own, faster
one in `bench/fast_upstream.py`). It answers `POST /v1/chat/completions` (plain
JSON, or SSE ending in `data: [DONE]`), `POST /v1/responses` (plain, or the SSE
event sequence), the stored-response calls, `POST /v1/embeddings` and
`GET /v1/models`; it records every request it gets, and misbehaves when told to:
any status with OpenAI's error JSON, a delay past the client's timeout, a
connection cut mid-stream, a stream that ends without finishing, or a body that
is not JSON. `chatgate/upstream/wire.py` writes the payloads (the demo model speaks the same).

Run it alone with `python -m tests.support.fake_upstream --port 8900`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from werkzeug.datastructures import Headers

from chatgate.upstream import wire
from tests.support.fake_conversations import Conversations

INVALID_KEY_PREFIX = "sk-invalid"
# What OpenAI reports of the caller's request budget on every answer.
RATE_LIMIT_HEADERS = {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999"}


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """How the fake answers one chat completion request."""

    reply: str = "Hello from the fake upstream."
    status: int = 200
    error_message: str = "The fake upstream was told to fail."
    error_type: str = "server_error"
    retry_after: str | None = None
    delay: float = 0.0  # before the status line, to provoke timeouts
    chunk_delay: float = 0.0  # between streamed chunks (and after a held one is let go)
    cut_after: int | None = None  # close the socket after this many content chunks
    end_early_after: int | None = None  # end the stream cleanly, without finish_reason
    error_event_after: int | None = None  # send an error event after this many content chunks, then end
    background_reads: int = 2  # a background response is read this many times before it has finished
    garbage: bool = False  # a 200 whose body is not JSON
    hold_answer: threading.Event | None = None  # hold the whole answer (plain or streamed) until the test sets it
    wait_for: threading.Event | None = None  # hold each chunk until the test sets it...
    hold_after: int = 0  # ...from this one on
    tool_calls: list | None = None  # chat: answer with these tool calls instead of text
    hang_up: bool = False  # close the connection after the answer, without saying so (a keep-alive that ends)
    usage: object = None  # chat, plain: report this as the usage instead of the real counts
    reply_content: object = None  # chat, plain: this as the message's content instead of the reply's text
    error_body: tuple[str, bytes] | None = None  # with a status: (content type, body) instead of OpenAI's JSON


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Headers  # case-insensitive
    body: dict | None
    peer: tuple[str, int] | None = None  # the caller's address: one per connection it opened


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: bursts of hundreds of connections

    def handle_error(self, request, client_address):
        pass  # cut connections are on purpose


class FakeUpstream:
    """An OpenAI-compatible server on a free loopback port, run in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.default = Behaviour()
        self.requests: list[RecordedRequest] = []
        self.responses: dict[str, dict] = {}  # created responses by id, as /v1/responses/{id} finds them
        self.conversations = Conversations()
        self.models = ["gpt-4o-mini", "gpt-4o"]  # what GET /models lists
        self.stream_aborted = threading.Event()
        self.hung_up = threading.Event()  # set once a hang_up answer's connection is closed
        self.finished_streams = 0
        self.open_streams = 0
        self._streams_changed = threading.Condition()
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _make_handler(self))
        self.scheme = "https" if tls else "http"
        if tls:  # HTTPS, with the certificate the caller's context holds
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours; back to the default."""
        with self._lock:
            self.default = Behaviour()
            self.requests.clear()
            self.responses.clear()
            self.conversations.clear()
            self.models = ["gpt-4o-mini", "gpt-4o"]
            self._queue.clear()
            self.finished_streams = 0
            self.stream_aborted.clear()
            self.hung_up.clear()

    def queue(self, **changes) -> Behaviour:
        """Answer the next chat completion with this behaviour, then go back to the default."""
        behaviour = dataclasses.replace(self.default, **changes)
        with self._lock:
            self._queue.append(behaviour)
        return behaviour

    @contextlib.contextmanager
    def behave(self, **changes):
        """Use this behaviour for every chat completion inside the block."""
        previous = self.default
        self.default = dataclasses.replace(previous, **changes)
        try:
            yield self.default
        finally:
            self.default = previous

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def requests_to(self, method: str, path_end: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.split("?")[0].endswith(path_end)]

    def last_chat_body(self) -> dict:
        return self.chat_requests()[-1].body

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def wait_for_open_streams(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` streams are open at once."""
        with self._streams_changed:
            return self._streams_changed.wait_for(lambda: self.open_streams >= count, timeout)

    def _stream_opened(self, change: int) -> None:
        with self._streams_changed:
            self.open_streams += change
            self._streams_changed.notify_all()

    def keep_response(self, response: dict, body: dict) -> dict:
        """Store a created response, as OpenAI does, for the stored-response calls."""
        with self._lock:
            self.responses[response["id"]] = {**response, "_input": body.get("input")}
        return response

    def _count_stream(self, aborted: bool) -> None:
        with self._lock:
            if aborted:
                self.stream_aborted.set()
            else:
                self.finished_streams += 1


_STORED = re.compile(r"/responses/([^/?]+)(/input_items|/cancel)?(?:\?.*)?$")


def _make_handler(fake: FakeUpstream):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # Without this, a header write then a body write waits on delayed ACKs (40 ms).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):  # keep test output clean
            pass

        def _read_body(self) -> dict | None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return None

        def _send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_raw(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", "req_fake_failure")
            self.end_headers()
            self.wfile.write(data)

        def _send_error(self, status: int, message: str, error_type: str, headers=None) -> None:
            headers = {"x-request-id": "req_fake_failure", **(headers or {})}  # as OpenAI names its requests
            code = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}.get(status)
            error = {"message": message, "type": error_type, "param": None, "code": code}
            self._send_json(status, {"error": error}, headers)

        def _key(self) -> str:
            return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

        def _reject_key(self) -> None:
            # OpenAI's real 401 echoes part of the key; the proxy must not pass that on.
            key = self._key()
            message = f"Incorrect API key provided: {key[:8]}{'*' * 10}{key[-4:]}."
            self._send_error(401, message, "invalid_request_error")

        def _record(self, method: str, body: dict | None = None) -> None:
            fake._record(
                RecordedRequest(method, self.path, Headers(list(self.headers.items())), body, self.client_address)
            )

        def _conversation_call(self, method: str, body: dict | None = None) -> bool:
            """Answer a conversations call (True), or leave the path to the others (False)."""
            answered = fake.conversations.answer(method, self.path, body)
            if answered is not None:
                self._send_json(*answered)
            return answered is not None

        def do_GET(self):
            self._record("GET")
            if self._key().startswith(INVALID_KEY_PREFIX):
                return self._reject_key()
            if self._conversation_call("GET"):
                return
            if self.path.rstrip("/").endswith("/models"):
                models = [
                    m if isinstance(m, dict) else {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in fake.models
                ]
                return self._send_json(200, {"object": "list", "data": models})
            if (stored := _STORED.search(self.path)) and stored.group(1) in fake.responses:
                response = fake.responses[stored.group(1)]
                if stored.group(2) == "/input_items":
                    item = {
                        "id": "msg_input",
                        "type": "message",
                        "role": "user",
                        "status": "completed",
                        "content": [{"type": "input_text", "text": str(response["_input"])}],
                    }
                    return self._send_json(
                        200,
                        {
                            "object": "list",
                            "data": [item],
                            "first_id": "msg_input",
                            "last_id": "msg_input",
                            "has_more": False,
                        },
                    )
                if "stream=true" in self.path:  # its events, from starting_after if given
                    return self._stream_stored(response)
                if "_finished" in response:  # a background response: queued until read enough times
                    if response["_reads_left"] > 0:
                        response["_reads_left"] -= 1
                    else:
                        response.update(response.pop("_finished"))
                return self._send_json(200, {k: v for k, v in response.items() if not k.startswith("_")})
            self._send_error(404, f"Unknown path {self.path}", "invalid_request_error")

        def _stream_stored(self, response: dict) -> None:
            shown = {k: v for k, v in response.items() if not k.startswith("_")}
            text = "".join(part.get("text", "") for item in shown.get("output", []) for part in item.get("content", []))
            events = [
                ("response.created", {"response": {**shown, "status": "in_progress", "output": []}}),
                (
                    "response.output_text.delta",
                    {"item_id": "msg", "output_index": 0, "content_index": 0, "delta": text},
                ),
                ("response.completed", {"response": shown}),
            ]
            after = int((re.search(r"starting_after=(\d+)", self.path) or [None, -1])[1])
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for number, (name, payload) in enumerate(events):
                if number > after:
                    last = number == len(events) - 1
                    self._write_event(name, {"type": name, **payload, "sequence_number": number}, last=last)

        def do_DELETE(self):
            self._record("DELETE")
            if self._conversation_call("DELETE"):
                return
            stored = _STORED.search(self.path)
            if stored and not stored.group(2) and fake.responses.pop(stored.group(1), None) is not None:
                return self._send_json(200, {"id": stored.group(1), "object": "response.deleted", "deleted": True})
            self._send_error(
                404, f"No response found with id '{stored.group(1) if stored else ''}'.", "invalid_request_error"
            )

        def do_POST(self):
            body = self._read_body()
            self._record("POST", body)
            if self._conversation_call("POST", body):
                return
            if (stored := _STORED.search(self.path)) and stored.group(2) == "/cancel":
                if stored.group(1) not in fake.responses:
                    return self._send_error(404, "No such response.", "invalid_request_error")
                fake.responses[stored.group(1)]["status"] = "cancelled"
                return self._send_json(
                    200, {k: v for k, v in fake.responses[stored.group(1)].items() if not k.startswith("_")}
                )
            endpoint = next(
                (
                    e
                    for e in ("/chat/completions", "/responses/compact", "/responses", "/embeddings")
                    if self.path.split("?")[0].endswith(e)
                ),
                None,
            )
            if endpoint is None:
                return self._send_error(404, f"Unknown path {self.path}", "invalid_request_error")
            behaviour = fake._next_behaviour()
            if behaviour.delay and fake._stopping.wait(behaviour.delay):
                return
            if behaviour.hold_answer is not None and not self._hold(behaviour.hold_answer):
                return
            if self._key().startswith(INVALID_KEY_PREFIX):
                return self._reject_key()
            if behaviour.status != 200 and behaviour.error_body:
                return self._send_raw(behaviour.status, *behaviour.error_body)
            if behaviour.status != 200:
                headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else None
                return self._send_error(behaviour.status, behaviour.error_message, behaviour.error_type, headers)
            if behaviour.garbage:
                data = b"<html>this is not json</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            body = body or {}
            if endpoint == "/embeddings":
                return self._send_json(200, wire.embeddings(body))
            if endpoint == "/responses/compact":  # the input, compacted into one item, with the call's usage
                compacted = {**wire.response_object(body, behaviour.reply), "object": "response.compaction"}
                compacted["output"] = [{"type": "compaction", "id": "cmp_1", "encrypted_content": "opaque"}]
                return self._send_json(200, compacted)
            if endpoint == "/responses":
                if isinstance(conversation := body.get("conversation"), str | dict):
                    named = conversation if isinstance(conversation, str) else conversation.get("id")
                    fake.conversations.add_turn(named, str(body.get("input")), behaviour.reply)
                if body.get("stream") and behaviour.tool_calls:
                    frames = function_call_frames(body, behaviour.tool_calls[0])
                    fake.keep_response(frames[-1][1]["response"], body)
                    return self._stream(frames, behaviour)
                if body.get("stream"):
                    frames = wire.response_frames(body, behaviour.reply)
                    fake.keep_response(frames[-1][1]["response"], body)
                    return self._stream(frames, behaviour)
                if body.get("background"):  # queued now; finished once it has been read back `background_reads` times
                    queued = wire.response_object(body, behaviour.reply, status="queued")
                    fake.keep_response(queued, body)
                    finished = wire.response_object(body, behaviour.reply, response_id=queued["id"])
                    fake.responses[queued["id"]].update(_reads_left=behaviour.background_reads, _finished=finished)
                    return self._send_json(200, queued)
                return self._send_json(200, fake.keep_response(wire.response_object(body, behaviour.reply), body))
            if body.get("stream"):
                return self._stream(wire.chat_frames(body, behaviour.reply, behaviour.tool_calls), behaviour)
            answer = wire.chat_completion(body, behaviour.reply, behaviour.tool_calls)
            if behaviour.usage is not None:
                answer["usage"] = behaviour.usage
            if behaviour.reply_content is not None:
                answer["choices"][0]["message"]["content"] = behaviour.reply_content
            self._send_json(200, answer)
            if behaviour.hang_up:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                fake.hung_up.set()

        def _hold(self, release: threading.Event, seconds: float = 30) -> bool:
            """Wait for `release`, but see at once when the client closes the connection meanwhile."""
            deadline = time.monotonic() + seconds
            while not release.wait(0.02):
                try:  # a peek that never blocks: b"" is a closed connection, no data yet an open one
                    if not self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                        return False
                except BlockingIOError:
                    pass
                if time.monotonic() > deadline:
                    break
            return True

        def _write_chunk(self, data: bytes, last: bool = False) -> None:
            # The body's end goes out with the last event, in one write, as servers that buffer send it.
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) + (b"0\r\n\r\n" if last else b""))
            self.wfile.flush()

        def _write_event(self, name: str | None, payload, last: bool = False) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            self._write_chunk((f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode(), last)

        def _stream(self, frames: list, behaviour: Behaviour) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in RATE_LIMIT_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            fake._stream_opened(+1)
            try:
                self._send_frames(frames, behaviour)
            finally:
                fake._stream_opened(-1)

        def _send_frames(self, frames: list, behaviour: Behaviour) -> None:
            sent = 0
            try:
                for index, (name, payload, carries_reply) in enumerate(frames):
                    if carries_reply:
                        if behaviour.cut_after is not None and sent == behaviour.cut_after:
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        if behaviour.end_early_after is not None and sent == behaviour.end_early_after:
                            self._write_chunk(b"")
                            return
                        if behaviour.error_event_after is not None and sent == behaviour.error_event_after:
                            error = {"error": {"message": "The server had an error.", "type": "server_error"}}
                            self._write_event(None, error, last=True)
                            return
                        if behaviour.wait_for is not None and sent >= behaviour.hold_after:
                            if not self._hold(behaviour.wait_for):
                                raise ConnectionResetError("the client closed the stream while it was held")
                        if behaviour.chunk_delay and fake._stopping.wait(behaviour.chunk_delay):
                            return
                        sent += 1
                    self._write_event(name, payload, last=index == len(frames) - 1)
            except (BrokenPipeError, ConnectionResetError, OSError):
                fake._count_stream(aborted=True)
                self.close_connection = True
                return
            fake._count_stream(aborted=False)

    return Handler


def function_call_frames(body: dict, call: dict) -> list:
    """A streamed response whose one output item is a call of a function tool (`call` in chat's shape:
    `{"id", "function": {"name", "arguments"}}`), as OpenAI streams it."""
    response_id, item_id = wire.new_id("resp_"), wire.new_id("fc_")
    name, arguments = call["function"]["name"], call["function"]["arguments"]
    item = {"id": item_id, "type": "function_call", "status": "in_progress", "call_id": call["id"], "name": name}
    started = wire.response_object(body, "", "in_progress", response_id)
    done = {**wire.response_object(body, "", "completed", response_id), "output": [{**item, "status": "completed"}]}
    done["output"][0]["arguments"] = arguments
    where = {"item_id": item_id, "output_index": 0}
    events = [
        ("response.created", {"response": started}, False),
        ("response.in_progress", {"response": started}, False),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "arguments": ""}}, False),
        ("response.function_call_arguments.delta", {**where, "delta": arguments}, True),
        ("response.function_call_arguments.done", {**where, "arguments": arguments}, False),
        ("response.output_item.done", {"output_index": 0, "item": done["output"][0]}, False),
        ("response.completed", {"response": done}, False),
    ]
    return [
        (name, {"type": name, "sequence_number": number, **payload}, carries)
        for number, (name, payload, carries) in enumerate(events)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeUpstream(args.host, args.port)
    fake.default = Behaviour(chunk_delay=args.chunk_delay)
    print(f"fake upstream on {fake.base_url}", flush=True)
    fake._server.serve_forever()


if __name__ == "__main__":
    main()
