"""Sending alerts to ALERT_WEBHOOK_URL: a JSON POST each, in the background (a call never waits for one), with a
few tries and a short timeout; signed with HMAC-SHA256 of the body when ALERT_WEBHOOK_SECRET is set. What could
not be sent is logged, never raised."""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
from typing import Any

import httpx2
import orjson

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Chatgate-Signature"  # "sha256=<hex>" of the exact body
TRIES = 3
MOST_WAITING = 1000  # alerts waiting to be sent; past it, a new one is logged and dropped


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    """One background sender to one URL."""

    def __init__(self, url: str, secret: str | None, timeout: float, pause: float = 0.5):
        self.url, self.secret, self.timeout, self.pause = url, secret, timeout, pause
        self._waiting: queue.Queue[dict[str, Any]] = queue.Queue(MOST_WAITING)
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, alert: dict[str, Any]) -> None:
        """Queue `alert` (its `text` is what Slack shows); the sender starts with the first."""
        try:
            self._waiting.put_nowait(alert)
        except queue.Full:
            log.warning("alert dropped, %d are waiting already: %s", MOST_WAITING, alert.get("text"))
            return
        with self._lock:
            if self._sender is None or not self._sender.is_alive():  # a forked worker starts its own
                self._sender = threading.Thread(target=self._send_forever, name="alerts", daemon=True)
                self._sender.start()

    def _send_forever(self) -> None:
        with httpx2.Client(timeout=self.timeout) as client:
            while True:
                self._deliver(client, self._waiting.get())

    def _deliver(self, client: httpx2.Client, alert: dict[str, Any]) -> None:
        body = orjson.dumps(alert)
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        for attempt in range(TRIES):
            try:
                answer = client.post(self.url, content=body, headers=headers)
                if answer.status_code < 300:
                    return
                problem = f"status {answer.status_code}"
            except httpx2.HTTPError as error:
                problem = type(error).__name__
            if attempt < TRIES - 1:
                time.sleep(self.pause * 2**attempt)
        log.warning("alert not sent after %d tries (%s): %s", TRIES, problem, alert.get("text"))
