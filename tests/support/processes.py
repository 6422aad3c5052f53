"""Real servers for end-to-end tests: gunicorn running the app, with its output kept for checks.

Starting and stopping a process is `tests.support.servers`, which the benchmark uses too: both run servers one way.
"""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import sys
import tempfile

import openai

from tests.support.keys import SERVER_KEY
from tests.support.servers import clean_environment, free_port, serving


class LiveServer:
    def __init__(self, port: int, log_path: pathlib.Path, process: subprocess.Popen):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process = process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def openai_sdk(self, api_key: str = "unused-by-the-service") -> openai.OpenAI:
        """The official Python SDK on this server's /v1, retrying nothing, so that a test sees each failure.
        Without a key of its own the service uses the server key."""
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, timeout=10)


def service_env(upstream_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for the service: the server key, the fake upstream, its own store, and `extra`."""
    return clean_environment(
        **{
            "OPENAI_API_KEY_CYB_SEC": SERVER_KEY,
            "OPENAI_BASE_URL": upstream_url,
            "UPSTREAM_MAX_RETRIES": "0",
            "PYTHONUNBUFFERED": "1",
            # Never the checkout's sessions.sqlite3: servers of parallel tests must not share limits.
            "DB_PATH": tempfile.mkdtemp(prefix="live-store-") + "/store.sqlite3",
            **extra,
        }
    )


@contextlib.contextmanager
def gunicorn(log_dir: pathlib.Path, env: dict[str, str], *args: str, port: int | None = None):
    """Run `gunicorn [args] main:app` from the project root on a free loopback port."""
    port = port or free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "gunicorn", *args, "--bind", f"127.0.0.1:{port}", "main:app"]
    with serving(command, port, env, log_path) as process:
        yield LiveServer(port, log_path, process)
