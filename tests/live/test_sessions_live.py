"""Sessions under real gunicorn: shared by every worker, and with Redis by every instance."""

import concurrent.futures
import json
import re
import urllib.request

from tests.support.processes import gunicorn, service_env


def call(url: str, body: dict | None = None, method: str | None = None) -> tuple[int, dict, bytes]:
    """One request on a fresh connection."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def test_every_worker_sees_every_session(upstream, tmp_path):
    env = service_env(upstream.base_url, DB_PATH=str(tmp_path / "sessions.sqlite3"))
    with gunicorn(tmp_path, env, "--workers", "2") as server:
        _, _, body = call(f"{server.url}/api/sessions", {"developer_message": "Be brief."})
        session_id = json.loads(body)["session_id"]
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: call(f"{server.url}/api/sessions/{session_id}"), range(50)))
        log = server.log()
    assert [status for status, _, _ in results] == [200] * 50
    assert all(json.loads(body)["developer_message"] == "Be brief." for _, _, body in results)
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log))) == 2


def test_turns_from_both_workers_are_all_recorded(upstream, tmp_path):
    env = service_env(upstream.base_url, DB_PATH=str(tmp_path / "sessions.sqlite3"))
    with gunicorn(tmp_path, env, "--workers", "2") as server:
        _, _, body = call(f"{server.url}/api/sessions", {})
        session_id = json.loads(body)["session_id"]

        def turn(n):
            return call(
                f"{server.url}/api/chat",
                {"developer_message": "d", "user_message": f"question {n}", "session_id": session_id},
            )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert all(status == 200 for status, _, _ in pool.map(turn, range(20)))
        _, _, body = call(f"{server.url}/api/sessions/{session_id}")
    assert json.loads(body)["message_count"] == 40


def test_a_conversation_moves_between_instances_sharing_redis(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, REDIS_URL=redis_url)
    with gunicorn(tmp_path, env) as first, gunicorn(tmp_path, env) as second:
        with upstream.behave(reply="Nice to meet you"):
            status, headers, body = call(
                f"{first.url}/api/chat", {"developer_message": "d", "user_message": "I am Ada"}
            )
        assert (status, body) == (200, b"Nice to meet you")
        session_id = headers["X-Session-ID"]
        status, headers, _ = call(
            f"{second.url}/api/chat", {"developer_message": "d", "user_message": "Who am I?", "session_id": session_id}
        )
        assert headers["X-Session-ID"] == session_id
        _, _, info = call(f"{second.url}/api/sessions/{session_id}")
    assert upstream.last_chat_body()["messages"] == [
        {"role": "system", "content": "d"},
        {"role": "user", "content": "I am Ada"},
        {"role": "assistant", "content": "Nice to meet you"},
        {"role": "user", "content": "Who am I?"},
    ]
    assert json.loads(info)["message_count"] == 4
