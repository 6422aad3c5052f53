"""The measured servers as processes: their CPU seconds and memory from /proc, and when they are ready."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and its children (gunicorn's master and workers)."""
    pids = [root]
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                    pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class PeakRss:
    """Sample the RSS of a process tree in the background and keep the highest."""

    def __init__(self, root: int):
        self.root, self.peak, self._stop = root, 0.0, threading.Event()

    def __enter__(self):
        self.pids = process_tree(self.root)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pids))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def time_until_ready(port: int, process: subprocess.Popen, started: float, path: str | None = "/health") -> float:
    """Seconds from starting gunicorn until GET `path` answers 200 (with no path: answers at all)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the service exited during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (path or "/").encode())
            if sock.recv(64).startswith(b"HTTP/1.1 200" if path else b"HTTP/1.1 "):
                return time.perf_counter() - started
        time.sleep(0.005)
    raise TimeoutError("the service never became ready")


def wait_for_workers(master: int, workers: int = 2, deadline_s: float = 30) -> None:
    """Wait until gunicorn's workers are up, so the idle RSS counts them."""
    deadline = time.monotonic() + deadline_s
    while len(process_tree(master)) < workers + 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start")
        time.sleep(0.01)
