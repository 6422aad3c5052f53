"""A webhook receiver on loopback: it records each POST's headers and JSON body."""

from __future__ import annotations

import json

from tests.support.loopback import LoopbackReceiver


class WebhookReceiver(LoopbackReceiver):
    def __init__(self):
        super().__init__()
        self.url = self.base_url + "/hook"

    def keep(self, path: str, headers: dict[str, str], body: bytes) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body)]

    @property
    def received(self) -> list[tuple[dict[str, str], bytes]]:
        return self.kept

    @property
    def alerts(self) -> list[dict]:
        return [json.loads(body) for _, body in self.kept]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        super().wait_for(count, timeout)
        return self.alerts
