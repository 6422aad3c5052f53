"""What an attacker or a fault can reach, with real processes: slow bodies against gunicorn, chunked bodies,
two processes opening a new SQLite file at once, crafted session ids on Redis."""

import concurrent.futures
import http.client
import json
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from tests.support.processes import gunicorn, service_env
from tests.support.servers import ROOT

SLOW_SOCKETS = 300
BODY_TIMEOUT = 2  # seconds: short, so the test is too


def _slow_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b'POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mess'
    )  # complete headers, then a body that never finishes
    return sock


def _status(sock: socket.socket) -> int:
    with sock:
        head = sock.recv(64)
    return int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0


def test_slow_bodies_hold_only_their_callers_slots_and_time_out(upstream, tmp_path):
    env = service_env(upstream.base_url, BODY_TIMEOUT=str(BODY_TIMEOUT))
    with gunicorn(tmp_path, env) as server:
        health, stop_probe = [], threading.Event()

        def probe():
            while not stop_probe.is_set():
                with urllib.request.urlopen(f"{server.url}/health", timeout=10) as answer:
                    health.append(answer.status)
                stop_probe.wait(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            sockets = [_slow_request(server.port) for _ in range(SLOW_SOCKETS)]
            with concurrent.futures.ThreadPoolExecutor(64) as pool:
                statuses = list(pool.map(_status, sockets))
        finally:
            stop_probe.set()
            prober.join()
        log = server.log()
    # Each of the two workers admits at most 64 of one caller's requests; the rest are refused at once,
    # and every admitted one is answered 408 once BODY_TIMEOUT has passed.
    assert set(statuses) == {408, 429}, statuses
    assert 64 <= statuses.count(408) <= 2 * 64
    assert health and set(health) == {200}
    assert "Traceback" not in log


def test_a_chunked_body_over_the_limit_is_413(upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url, MAX_REQUEST_BYTES="1000")) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        body = json.dumps({"message": "x" * 5000}).encode()
        connection.request(
            "POST",
            "/chat",
            body=iter([body[:2000], body[2000:]]),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    assert response.status == 413 and "larger than the limit of 1000 bytes" in answer["error"]
    assert upstream.chat_requests() == []


OPEN_FRESH_FILE = """
import sys
from chatgate.storage.sqlite.database import Database
sys.stdin.readline()  # both processes are started; go together
with Database(sys.argv[1], ("CREATE TABLE IF NOT EXISTS t (x INTEGER)",)).write() as db:
    db.execute("INSERT INTO t VALUES (1)")
    print(db.execute("PRAGMA journal_mode").fetchone()[0])
"""


def test_two_processes_opening_a_new_database_at_once_both_come_up(tmp_path):
    for trial in range(40):
        path = str(tmp_path / f"fresh-{trial}.sqlite3")
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_FRESH_FILE, path],
                cwd=ROOT,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [process.communicate(timeout=60) for process in processes]
        for process, (out, err) in zip(processes, results, strict=True):
            assert process.returncode == 0 and out.strip() == "wal", (trial, err)


@pytest.fixture
def redis_client(make_app, redis_url):
    return make_app(redis_url=redis_url).test_client()


@pytest.mark.parametrize("suffix", [":messages", ":*"])
def test_crafted_session_ids_never_reach_redis_keys(redis_client, upstream, suffix):
    made = redis_client.post("/api/chat", json={"developer_message": "d", "user_message": "q"})
    made.get_data()
    session_id = made.headers["X-Session-ID"]
    assert redis_client.get(f"/api/sessions/{session_id}{suffix}").status_code == 404
    assert redis_client.delete(f"/api/sessions/{session_id}{suffix}").status_code == 404
    assert redis_client.get(f"/api/sessions/{session_id}").get_json()["message_count"] == 2
