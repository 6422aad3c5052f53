"""Schemathesis with OpenAI's own API description (openapi.json from github.com/openai/openai-openapi, which is not
kept here) against the service, in front of the fake upstream: every operation the service has under /v1
(chat completions, responses, conversations, embeddings, models), valid and invalid data, and two checks on every
answer: no 5xx, and an error is OpenAI's `{"error": {"message", "type", "param", "code"}}`.

    make openai-conformance OPENAI_OPENAPI=/path/to/openapi.json [SECONDS=300]
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile

import schemathesis

from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import gunicorn, service_env

OPERATIONS = r"^/(chat/completions|responses|embeddings|models|conversations)"


@schemathesis.check
def openai_error_shape(ctx, response, case):  # type: ignore[no-untyped-def]
    """An error answer is OpenAI's error object, its code a string or null."""
    if response.status_code < 400:
        return None
    error = json.loads(response.content).get("error")
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, response.content
    assert isinstance(error["message"], str) and isinstance(error["type"], str), response.content
    assert error["code"] is None or isinstance(error["code"], str), response.content
    return None


def main() -> None:
    description, seconds = pathlib.Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "300"
    upstream = FakeUpstream().start()
    env = service_env(upstream.base_url, MAX_CONCURRENT_PER_CALLER="0")
    with gunicorn(pathlib.Path(tempfile.mkdtemp(prefix="conformance-")), env) as server:
        command = [sys.executable, "-m", "schemathesis.cli", "run", str(description), "--url", f"{server.url}/v1"]
        command += ["--include-path-regex", OPERATIONS, "--checks", "not_a_server_error,openai_error_shape"]
        command += ["--max-time", seconds, "--suppress-health-check", "all", "--continue-on-failure"]
        command += ["--phases", "examples,coverage,fuzzing"]
        env_for_st = {
            **env,
            "SCHEMATHESIS_HOOKS": "tests.support.openai_conformance",
            "PYTHONPATH": str(pathlib.Path.cwd()),
        }
        done = subprocess.run(command, env=env_for_st, check=False)
    upstream.stop()
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
