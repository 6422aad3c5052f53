"""The Codex CLI, end to end: the real binary from npm (pinned in tests/live/codex/package.json) runs `codex exec`
with this service as its model provider, over HTTP and over WebSocket mode. The fake upstream asks for one tool
call (a shell command), then answers text: Codex's requests must reach the upstream intact, its tool's output
must come back in the second, and its answer must be the upstream's."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time

import pytest

from tests.support.processes import gunicorn, service_env

CODEX = pathlib.Path(__file__).parent / "codex" / "node_modules" / ".bin" / "codex"
TOKEN = "tok-codex-" + "c" * 24
MARK = "chatgate-tool-ok"
SHELL_CALL = {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": ""}}
SHELL_CALL["function"]["arguments"] = json.dumps({"cmd": f"echo {MARK}"})


@pytest.fixture(scope="module")
def server(fake_upstream, tmp_path_factory):
    env = service_env(fake_upstream.base_url, API_TOKENS=TOKEN)
    with gunicorn(tmp_path_factory.mktemp("codex"), env) as live:
        yield live


def codex_exec(server, tmp_path: pathlib.Path, websockets: bool) -> subprocess.CompletedProcess:
    """`codex exec` with the README's provider settings for this service, in an empty working directory."""
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(
        f"""model = "gpt-4o-mini"
model_provider = "chatgate"

[model_providers.chatgate]
name = "chatgate"
base_url = "{server.url}/v1"
env_key = "CHATGATE_TOKEN"
wire_api = "responses"
supports_websockets = {str(websockets).lower()}
"""
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "CHATGATE_TOKEN": TOKEN}
    # No sandbox: the one command it runs is the fake's `echo`, and a container may not allow bubblewrap's.
    command = [str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
    return subprocess.run(
        [*command, "-C", str(work), "Print the mark"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("websockets", [False, True], ids=["http", "websocket"])
def test_codex_runs_a_tool_call_and_answers_through_the_service(server, upstream, tmp_path, websockets):
    logged_before = len(server.log())
    upstream.queue(tool_calls=[SHELL_CALL])
    with upstream.behave(reply="The mark was printed."):
        done = codex_exec(server, tmp_path, websockets)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("The mark was printed.")
    first, second = (request.body for request in upstream.requests_to("POST", "/responses"))
    assert first["model"] == "gpt-4o-mini" and first["stream"] is True and first["store"] is False
    assert "exec_command" in [tool.get("name") for tool in first["tools"]]
    assert first["input"][-1]["role"] == "user" and "Print the mark" in json.dumps(first["input"][-1])
    # The second asks again with all of the first, the call, and the command's output.
    assert second["input"][: len(first["input"])] == first["input"]
    call, output = second["input"][len(first["input"]) :]
    assert call["type"] == "function_call" and call["call_id"] == "call_1" and call["name"] == "exec_command"
    assert output["type"] == "function_call_output" and output["call_id"] == "call_1"
    assert MARK in json.dumps(output["output"])
    assert all(r.headers["Authorization"] != f"Bearer {TOKEN}" for r in upstream.requests)  # the server's key
    # Both turns on one WebSocket connection (logged once it has closed), or two POSTs.
    log = logged_after(server, logged_before, "GET /v1/responses 101" if websockets else "POST /v1/responses 200")
    assert log.count("/v1/responses (WebSocket)") == (2 if websockets else 0)
    assert ("POST /v1/responses" in log) is not websockets


def logged_after(server, offset: int, line: str, seconds: float = 10) -> str:
    """The server's log from `offset`, once it has `line` (or the deadline has passed)."""
    deadline = time.monotonic() + seconds
    while line not in server.log()[offset:] and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log()[offset:]
