"""Responses made in the background (`background: true`): the upstream answers at once with the response queued,
and what it costs is known only when it has finished. A poller in the service reads it until then (every
BACKGROUND_POLL_SECONDS, for at most BACKGROUND_DEADLINE) and tells the hooks its real usage: the caller's
reservation is held until the response has finished, and settled even if nobody ever polls it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chatgate.errors import ApiError, NotFound
from chatgate.upstream.event_stream import response_usage
from chatgate.upstream.hooks import Call, Outcome, bounded_usage

log = logging.getLogger(__name__)

UNFINISHED = frozenset({"queued", "in_progress"})


def unfinished(answer: dict[str, Any]) -> bool:
    """Whether a Responses API answer is one still being made in the background."""
    return answer.get("status") in UNFINISHED and isinstance(answer.get("id"), str)


class BackgroundPoller:
    def __init__(
        self,
        read: Callable[[str, str | None], dict[str, Any]],
        finish: Callable[[Call, Outcome], None],
        every: float,
        deadline: float,
    ):
        self.read, self.finish, self.every, self.deadline = read, finish, every, deadline

    def follow(self, call: Call, response_id: str, api_key: str | None) -> None:
        """Read the response until it has finished, then settle `call` to what it used (in a thread of its own)."""
        threading.Thread(target=self._poll, args=(call, response_id, api_key), daemon=True).start()

    def _poll(self, call: Call, response_id: str, api_key: str | None) -> None:
        ends = time.monotonic() + self.deadline
        while time.monotonic() < ends:
            time.sleep(self.every)
            try:
                response = self.read(response_id, api_key)
            except NotFound:  # deleted meanwhile: what it used is no longer known
                break
            except ApiError as error:  # the upstream away for a moment: read it again
                log.warning("background response %s could not be read: %s", response_id, error.message)
                continue
            if response.get("status") not in UNFINISHED:
                usage = response_usage(response)
                ended = "answered" if response.get("status") == "completed" else "cut"
                if usage is not None:
                    self.finish(call, Outcome(ended, bounded_usage(usage), answer=response))
                else:
                    self.finish(call, Outcome(ended, call.estimated_usage(), estimated=True, answer=response))
                return
        self.finish(call, Outcome("cut", call.estimated_usage(), estimated=True, cause="background_unfinished"))
