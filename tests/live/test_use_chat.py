"""`useChat` against the service, with the real `ai` npm package: its DefaultChatTransport (what useChat runs) and
readUIMessageStream, on /api/chat, through gunicorn."""

import json
import pathlib
import subprocess

from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env

SCRIPT = pathlib.Path(__file__).parent / "node_sdk" / "use_chat.mjs"
TOKEN = secret("tok-use-chat-" + "u" * 24)
OTHER = secret("tok-use-chat-other-" + "o" * 24)
REPLY = "Hello from the fake upstream."


def test_use_chat_works_unchanged_with_resume_and_stop(upstream, tmp_path):
    long_reply = " ".join(f"w{n}" for n in range(60))
    for behaviour in (
        {},  # 1. the chunk types
        {},  # 1. the message
        {},  # 2. history
        {},  # 3. regenerate
        {"status": 500},  # 4. before the first chunk
        {"cut_after": 2, "reply": "one two three four"},  # 5. after it
        {"reply": long_reply, "chunk_delay": 0.05},  # 6. stop
        {"reply": "resume me please now", "chunk_delay": 0.05},  # 7. leave, then reconnect
    ):
        upstream.queue(**behaviour)
    # Step 5 checks useChat's error after the first chunk: with continuation the cut would be finished (by the
    # next behaviour in the queue), so it is off here; tests/api/test_continuation.py continues /api/chat.
    env = service_env(
        upstream.base_url, API_TOKENS=f"{TOKEN},{OTHER}", UPSTREAM_MAX_RETRIES="0", STREAM_CONTINUATION="off"
    )
    with gunicorn(tmp_path, env) as server:
        done = subprocess.run(
            ["node", str(SCRIPT)],
            env={"SERVICE_URL": server.url, "SERVICE_TOKEN": TOKEN, "OTHER_TOKEN": OTHER, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=90,
        )
        log = server.log()
    assert done.returncode == 0, done.stderr
    steps = {line["step"]: line for line in map(json.loads, done.stdout.strip().splitlines())}
    assert steps["first"]["types"] == [
        "start",
        "start-step",
        "text-start",
        *["text-delta"] * 5,
        "text-end",
        "finish-step",
        "finish",
    ]
    assert steps["first"]["finish"]["messageMetadata"]["model"] == "gpt-4o-mini"
    assert steps["first-text"]["text"] == REPLY and steps["history"]["text"] == REPLY
    chats = upstream.chat_requests()
    assert chats[2].body["model"] == "gpt-4o"
    assert [m["role"] for m in chats[2].body["messages"]] == ["system", "user", "assistant", "user"]
    assert chats[2].body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["content"] for m in chats[3].body["messages"]] == ["Hi"]  # regenerate: the answer is asked again
    assert steps["failed-before"]["thrown"] is True and steps["failed-before"]["status"] == 502
    assert steps["failed-after"]["types"][-1] == "error" and "cut" in steps["failed-after"]["errorText"]
    assert upstream.stream_aborted.is_set()  # 6. the stop reached the upstream
    assert steps["resumed"]["text"] == "resume me please now"
    assert steps["none"]["stream"] is None and steps["others"]["stream"] is None
    assert TOKEN not in log
