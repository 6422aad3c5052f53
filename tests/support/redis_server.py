"""A real redis-server for the tests: started once on a free loopback port, emptied before each test."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from tests.support.processes import free_port


def redis_command(port: int, directory) -> list[str]:
    """A throwaway redis-server on loopback `port`, with no persistence, working in `directory`."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


class RedisServer:
    """A throwaway redis-server with no persistence, in its own directory."""

    def __init__(self, directory):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            redis_command(self.port, directory),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.client = redis.Redis.from_url(self.url)
        self._wait_until_ready()

    def _wait_until_ready(self, deadline_s: float = 20.0) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                if self.client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not answer PING in time")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The URL of an empty Redis."""
    redis_server.client.flushall()
    return redis_server.url
