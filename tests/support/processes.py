"""Real servers for end-to-end tests: gunicorn running the app, with its output kept for checks."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

from tests.support.keys import SERVER_KEY

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, deadline_s: float = 30.0) -> None:
    """Poll until something accepts connections on `port`; fail if the process dies first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {deadline_s} s")


class LiveServer:
    def __init__(self, port: int, log_path: pathlib.Path, process: subprocess.Popen):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process = process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def service_env(upstream_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for the service: the server key, the fake upstream, its own store, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "API_TOKENS", "REDIS_URL"))}
    env.update({"OPENAI_API_KEY_CYB_SEC": SERVER_KEY, "OPENAI_BASE_URL": upstream_url,
                "UPSTREAM_MAX_RETRIES": "0", "PYTHONUNBUFFERED": "1",
                # Never the checkout's sessions.sqlite3: servers of parallel tests must not share limits.
                "SESSION_DB_PATH": tempfile.mkdtemp(prefix="live-store-") + "/store.sqlite3"})
    env.update(extra)
    return env


def stop(process: subprocess.Popen) -> None:
    """Ask a server to stop; kill it if it has not within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(command: list[str], port: int, env: dict[str, str], log_path: pathlib.Path):
    """Run `command` from the project root, once it listens on `port`, until the block ends."""
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process)
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def gunicorn(log_dir: pathlib.Path, env: dict[str, str], *args: str, port: int | None = None):
    """Run `gunicorn [args] main:app` from the project root on a free loopback port."""
    port = port or free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "gunicorn", *args, "--bind", f"127.0.0.1:{port}", "main:app"]
    with serving(command, port, env, log_path) as process:
        yield LiveServer(port, log_path, process)
