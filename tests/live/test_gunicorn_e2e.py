"""The original Core API's literal gunicorn command, for real, holding 200 concurrent streams."""

import concurrent.futures
import http.client
import json
import threading

from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env
from tests.support.sse import sse_json

STREAMS = 200


def stream_chat(port: int) -> list[dict]:
    """POST /chat/stream on a fresh connection and return the decoded events."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", "/chat/stream", body=json.dumps({"message": "hi"}), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        assert response.status == 200
        body = response.read()
    finally:
        connection.close()
    return sse_json(body)


def test_the_original_command_holds_200_concurrent_streams(upstream, tmp_path):
    release = threading.Event()
    env = service_env(upstream.base_url, MAX_CONCURRENT_PER_CALLER="0")  # one address opens them all
    with (
        upstream.behave(reply="streamed in five small words", wait_for=release),
        gunicorn(tmp_path, env, "--workers", "2", "--timeout", "120") as server,
        concurrent.futures.ThreadPoolExecutor(STREAMS) as pool,
    ):
        futures = [pool.submit(stream_chat, server.port) for _ in range(STREAMS)]
        # Every stream is open upstream at the same time: sync workers would manage two.
        all_open = upstream.wait_for_open_streams(STREAMS, timeout=60)
        release.set()
        results = [future.result() for future in futures]
        log = server.log()
    assert all_open, f"only {upstream.open_streams} streams were open at once"
    for events in results:
        assert events[-1]["done"] is True
        assert "".join(e.get("content", "") for e in events) == "streamed in five small words"
    assert "Traceback" not in log
    assert upstream.finished_streams == STREAMS


def test_a_large_bearer_reaches_the_app_and_gets_the_surfaces_json(upstream, tmp_path):
    env = service_env(upstream.base_url, API_TOKENS=secret("tok-large-header-" + "1" * 30))
    with gunicorn(tmp_path, env, "--workers", "1") as server:
        answers = {}
        for size in (12_000, 20_000):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            bearer = "x" * size
            connection.request(
                "POST", "/chat", body=b'{"message": "hi"}', headers={"Authorization": f"Bearer {bearer}"}
            )
            response = connection.getresponse()
            answers[size] = (response.status, response.getheader("Content-Type"), json.loads(response.read()))
            connection.close()
    for status, content_type, body in answers.values():
        assert status == 401 and content_type == "application/json" and "service token" in body["error"]
