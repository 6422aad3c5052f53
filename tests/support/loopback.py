"""A server on loopback that keeps what it is sent, for a test to wait on: the base of the tests' receivers."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackReceiver:
    """Takes POSTs; `keep(path, headers, body)` says what each adds to `kept`; answers with `answer(path)`."""

    def __init__(self):
        self.kept: list[Any] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                items = receiver.keep(self.path, dict(self.headers.items()), body)
                with receiver._changed:
                    receiver.kept.extend(items)
                    receiver._changed.notify_all()
                status, content_type, answer = receiver.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keep(self, path: str, headers: dict[str, str], body: bytes) -> list[Any]:
        raise NotImplementedError

    def answer(self, path: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", b""

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        """What was kept, once there are at least `count` (else fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.kept) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.kept)} received, not {count}"
                self._changed.wait(left)
            return list(self.kept)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
