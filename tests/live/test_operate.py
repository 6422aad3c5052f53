"""Operating the service for real: start-up errors and warnings, workers, JSON logs, a graceful stop that lets
streams finish, Redis going away and coming back, and a real Prometheus scraping /metrics."""

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.support.processes import gunicorn, service_env
from tests.support.redis_server import redis_command
from tests.support.servers import ROOT, free_port, serving


def _get(url: str, json_only: bool = True) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if json_only else {"text": body.decode(errors="replace")}


@pytest.mark.parametrize(
    "variable, value",
    [
        ("PORT", "abc"),
        ("DEFAULT_MODEL", "gpt-9"),
        ("RATE_LIMIT", "60/min"),
        ("RATE_LIMIT", "sixty"),
        ("TOKEN_LIMIT", "100000/hr"),
        ("REDIS_URL", "localhost:6379"),
        ("UPSTREAM_MAX_REST", "inf"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_status_1_before_any_worker(upstream, variable, value):
    env = service_env(upstream.base_url, **{variable: value})
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "main:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Booting worker" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Configuration error: {variable} ") and repr(value) in lines[0]


def test_a_worker_that_cannot_build_the_app_stops_gunicorn_instead_of_looping(upstream, tmp_path):
    # A config file of its own skips the master's checks (gunicorn.conf.py's): the worker finds the bad setting.
    env = service_env(upstream.base_url, PORT=str(free_port()))
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("workers = 1\nbind = '127.0.0.1:" + env["PORT"] + "'\n")
    env["MODELS"], env["DEFAULT_MODEL"] = "gpt-4o", "gpt-4o-mini"
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(conf), "main:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3 and done.stderr.count("Configuration error: DEFAULT_MODEL 'gpt-4o-mini'") == 1


def test_warnings_once_per_start_and_web_concurrency(upstream, tmp_path):
    env = service_env(upstream.base_url, WEB_CONCURRENCY="3", OPENAI_API_KEY_CYB_SEC="sk-REPLACE_ME")
    with gunicorn(tmp_path, env) as server:
        status, ready = _get(f"{server.url}/health/ready")  # client keys are allowed: ready without a key
        deadline = time.monotonic() + 30
        while server.log().count("Booting worker") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log()
    assert status == 200 and ready["checks"]["upstream_key"] == "ok: client keys only"
    assert log.count("Booting worker") == 3
    assert log.count("GET /health/ready 200") == 1  # one handler writes each line, not one per configuration
    booting = next(line for line in log.splitlines() if "Booting worker" in line)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 INFO gunicorn.error", booting)  # ISO 8601
    assert log.count("placeholder (sk-REPLACE_ME): it counts as no key") == 1


def test_json_logs_cover_gunicorns_own_lines(upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url, LOG_FORMAT="json")) as server:
        urllib.request.urlopen(f"{server.url}/health", timeout=10).read()
        request = urllib.request.Request(
            f"{server.url}/chat/stream", data=b'{"message": "hi"}', headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).read()
        deadline = time.monotonic() + 10
        while "stream ended" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [line for line in server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, gunicorn's "Booting worker" included
    assert any("Booting worker" in entry["message"] for entry in entries)
    assert [entry["message"] for entry in entries].count(
        next(e["message"] for e in entries if e["message"].startswith("GET /health "))
    ) == 1
    ended = next(entry for entry in entries if entry["message"].startswith("stream ended"))
    assert ended["outcome"] == "finished" and ended["surface"] == "/chat/stream" and ended["model"] == "gpt-4o-mini"
    assert ended["completion_tokens"] == 5 and ended["time"].endswith("+00:00")


def test_a_stream_open_at_sigterm_finishes(upstream, tmp_path):
    release = threading.Event()
    env = service_env(upstream.base_url, GRACEFUL_TIMEOUT="20")
    with (
        upstream.behave(reply="finished after the stop", wait_for=release, hold_after=1),
        gunicorn(tmp_path, env, "--workers", "1") as server,
    ):
        request = urllib.request.Request(
            f"{server.url}/chat/stream", data=b'{"message": "hi"}', headers={"Content-Type": "application/json"}
        )
        answer = urllib.request.urlopen(request, timeout=30)
        first = answer.read1(65536)
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while "Handling signal: term" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        release.set()
        rest = answer.read()
        server.process.wait(timeout=30)
    assert first.startswith(b'data: {"content":"finished"}')
    assert b'"done":true' in rest and server.process.returncode == 0


def test_redis_going_away_is_a_503_and_coming_back_heals(upstream, tmp_path):
    port = free_port()
    command = redis_command(port, tmp_path)
    env = service_env(upstream.base_url, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    with gunicorn(tmp_path, env, "--workers", "1") as server:
        with serving(command, port, os.environ.copy(), tmp_path / "redis-1.log"):
            assert _get(f"{server.url}/health/ready")[0] == 200
        status, body = _get(f"{server.url}/health/ready")
        assert status == 503 and body["checks"]["storage"].startswith("Redis: ConnectionError")
        request = urllib.request.Request(
            f"{server.url}/api/sessions", data=b"{}", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("a session was made with Redis down")
        except urllib.error.HTTPError as error:
            assert error.code == 503 and error.headers["Retry-After"] == "5"
            assert json.loads(error.read())["detail"].startswith("The service's storage")
        with serving(command, port, os.environ.copy(), tmp_path / "redis-2.log"):
            assert _get(f"{server.url}/health/ready")[0] == 200
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
        log = server.log()
    assert "Traceback" not in log
    assert log.count("storage unavailable on POST /api/sessions") == 1


def test_prometheus_scrapes_the_metrics(upstream, tmp_path):
    with gunicorn(tmp_path, service_env(upstream.base_url)) as server:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: chat-api\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
        )
        command = [
            shutil.which("prometheus") or "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with serving(command, port, os.environ.copy(), tmp_path / "prometheus.log"):
            deadline, target = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                status, answer = _get(f"http://127.0.0.1:{port}/api/v1/targets", json_only=False)
                if status != 200:  # Prometheus answers 503 in plain text until it is ready
                    time.sleep(0.2)
                    continue
                targets = answer["data"]["activeTargets"]
                target = targets[0] if targets else {}
                if target.get("health") == "up":
                    break
                time.sleep(0.2)
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
                content_type = answer.headers["Content-Type"]
    assert target.get("health") == "up", target.get("lastError")
    assert content_type.count("charset") == 1


def test_a_token_made_and_revoked_on_the_command_line_counts_on_every_instance(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, REDIS_URL=redis_url)
    flask = [sys.executable, "-m", "flask", "--app", "main", "tokens"]

    def status(server, token) -> int:
        request = urllib.request.Request(f"{server.url}/models", headers={"X-API-Key": token})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def settles(servers, token, wanted) -> bool:
        deadline = time.monotonic() + 10  # the store is read again each second
        while time.monotonic() < deadline:
            if all(status(server, token) == wanted for server in servers):
                return True
            time.sleep(0.1)
        return False

    with gunicorn(tmp_path, env) as first, gunicorn(tmp_path, env) as second:
        made = subprocess.run([*flask, "create", "ops"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        token = made.stdout.strip()
        assert made.returncode == 0 and token.startswith("cat_")
        assert settles((first, second), token, 200)
        assert settles((first, second), "cat_not-a-token", 401)
        revoked = subprocess.run(
            [*flask, "revoke", "ops"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert revoked.returncode == 0
        assert settles((first, second), token, 401)
        logs = first.log() + second.log()
    assert token not in logs


def test_a_start_after_every_token_was_revoked_says_so_once(upstream, tmp_path):
    env = service_env(upstream.base_url, DB_PATH=str(tmp_path / "store.sqlite3"))
    flask = [sys.executable, "-m", "flask", "--app", "main", "tokens"]
    for step in (["create", "gone"], ["revoke", "gone"]):
        done = subprocess.run([*flask, *step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    with gunicorn(tmp_path, env) as server:
        status, _ = _get(f"{server.url}/models", json_only=False)
        log = server.log()
    assert status == 401 and log.count("Every stored token (1) is revoked or expired") == 1
    assert "API_TOKENS is not set" not in log


def _workers_of(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


def _answered(url: str, path: str, body: bytes) -> bool:
    """Whether the whole answer arrived (a stream: up to its last frame)."""
    request = urllib.request.Request(url + path, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
    except (OSError, http.client.HTTPException):  # cut by the kill
        return False
    return answer.status == 200 and (not path.endswith("stream") or b'"done": true' in text or b'"done":true' in text)


def test_every_answered_call_is_on_file_when_the_workers_are_killed(upstream, tmp_path):
    env = service_env(upstream.base_url, WEB_CONCURRENCY="2")
    calls = [("/chat", b'{"message": "hi"}'), ("/chat/stream", b'{"message": "hi"}')] * 40
    killed = threading.Event()

    def written_calls() -> int:
        with sqlite3.connect(env["DB_PATH"]) as db:
            return sum(row[0] for row in db.execute("SELECT calls FROM usage"))

    with gunicorn(tmp_path, env) as server, upstream.behave(chunk_delay=0.01):
        answered, lock = [], threading.Lock()

        def call(job) -> None:
            path, body = job
            done = _answered(server.url, path, body)
            with lock:
                if done and not killed.is_set():  # its answer ended before the kill
                    answered.append(path)
                if len(answered) >= 30 and not killed.is_set():
                    killed.set()
                    for worker in _workers_of(server.process.pid):
                        os.kill(worker, signal.SIGKILL)  # no exit handler runs: only what was written counts

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(call, calls))
        assert killed.is_set()
        # Every call a client was answered for before the kill is on file (later ones may be there too).
        assert written_calls() >= len(answered) >= 30
