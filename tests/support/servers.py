"""Servers on loopback, started from the project root and stopped for sure: the benchmark's, and the live tests'."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import time

from chatgate import config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any variable the service reads, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in config.VARIABLES}
    env["ENV_FILE"] = "none"  # a developer's .env in the checkout must not reach a measured or tested server
    env.update(settings)
    return env


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
