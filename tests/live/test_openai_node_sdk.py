"""The official `openai` npm package, pointed at the running service, works unchanged."""

import json
import pathlib
import subprocess

from tests.support.processes import gunicorn, service_env

SCRIPT = pathlib.Path(__file__).parent / "node_sdk" / "check.mjs"


def test_node_sdk_creates_streams_and_raises(upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url)) as server:
        done = subprocess.run(
            ["node", str(SCRIPT)],
            env={"SERVICE_URL": server.url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "created": "Hello from the fake upstream.",
        "streamed": "Hello from the fake upstream.",
        "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6},
        "errorClass": "NotFoundError",
        "responded": "Hello from the fake upstream.",
        "firstEvent": "response.created",
        "lastEvent": "response.completed",
        "deltas": 5,
    }
