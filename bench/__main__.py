"""`python -m bench`: start a fast fake upstream and the service under the shipped gunicorn config,
measure each figure for the service and for a direct call in the same run, print one markdown table.

Everything stays on loopback and is bounded in count; `--quick` is the smoke-test size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import orjson
import uvloop

from bench.client import Connection
from bench.fast_upstream import WORDS
from config import Settings, UpstreamSpec
from tests.support.servers import ROOT, clean_environment, free_port, serving, stop
from upstream.routing import Router

HELLO = [{"role": "user", "content": "Say hello"}]
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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Target:
    """Where a kind of call goes: the service's path and body, or the upstream's."""

    def __init__(self, port: int, path: str, body: dict, stream_end: bytes, headers: dict | None = None):
        self.port, self.path, self.body = port, path, orjson.dumps(body)
        self.stream_end, self.headers = stream_end, headers or {}


async def sequential(target: Target, count: int) -> list[float]:
    connection = await Connection.open(target.port)
    try:
        for _ in range(min(50, count)):  # warm the pools and caches
            await connection.request("POST", target.path, target.body, target.headers)
        times = []
        for _ in range(count):
            status, _, seconds, _ = await connection.request("POST", target.path, target.body, target.headers)
            if status != 200:
                raise RuntimeError(f"{target.path} answered {status}")
            times.append(seconds)
        return times
    finally:
        connection.close()


async def concurrent_rate(target: Target, connections: int, total: int) -> tuple[float, int]:
    """Requests per second over `connections` keep-alive connections; and the errors."""
    remaining, errors = [total], [0]

    async def worker():
        connection = await Connection.open(target.port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                status, *_ = await connection.request("POST", target.path, target.body, target.headers)
                errors[0] += status != 200
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return total / (time.perf_counter() - started), errors[0]


async def streams(target: Target, count: int) -> dict:
    """`count` streams at once, each on its own connection, all started together once every one is open."""
    ready, opened = asyncio.Event(), asyncio.Event()
    pending = [count]

    def arrived():
        pending[0] -= 1
        if pending[0] == 0:
            opened.set()

    async def one():
        try:
            connection = await Connection.open(target.port)
        except OSError:
            arrived()
            return False, None, None
        arrived()
        await ready.wait()
        try:
            status, first_byte, seconds, data = await connection.request(
                "POST", target.path, target.body, target.headers
            )
            last_event = data.rstrip().rsplit(b"\n\n", 1)[-1]
            return status == 200 and target.stream_end in last_event, first_byte, seconds
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return False, None, None
        finally:
            connection.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await opened.wait()
    started = time.perf_counter()
    ready.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    good = [r for r in results if r[0]]
    return {
        "completed": len(good),
        "errors": count - len(good),
        "wall": wall,
        "ttfb": [r[1] for r in good],
        "total": [r[2] for r in good],
    }


def time_until_ready(port: int, process: subprocess.Popen, started: float) -> float:
    """Seconds from starting gunicorn until GET /health answers 200."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the service exited during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def measure(args, upstream_port: int, service_port: int, service: subprocess.Popen) -> list[tuple]:
    up = "/v1/chat/completions"
    direct_plain = Target(upstream_port, up, {"model": "gpt-4o-mini", "messages": HELLO}, b"")
    direct_stream = Target(
        upstream_port,
        up,
        {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}},
        b"[DONE]",
    )
    chat = Target(service_port, "/chat", {"message": "Say hello"}, b"")
    v1 = Target(service_port, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO}, b"")
    chat_stream = Target(service_port, "/chat/stream", {"message": "Say hello"}, b'"done":true')
    resumable_stream = Target(
        service_port, "/chat/stream", {"message": "Say hello"}, b'"done":true', {"X-Resumable": "true"}
    )
    v1_stream = Target(
        service_port, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}, b"[DONE]"
    )
    rows = []
    pids = process_tree(service.pid)
    rows.append(("RSS idle (master + workers)", f"{rss_mb(pids):.0f} MB", "–", "", ""))

    direct = await sequential(direct_plain, args.sequential)
    d50, d99 = statistics.median(direct), percentile(direct, 99)
    for name, target, budget50 in (("/chat", chat, 0.8), ("/v1/chat/completions", v1, 0.6)):
        times = await sequential(target, args.sequential)
        a50, a99 = statistics.median(times) - d50, percentile(times, 99) - d99
        verdict = "met" if a50 * 1000 <= budget50 and a99 * 1000 <= 2 else "NOT met"
        rows.append(
            (
                f"added latency {name}, p50 / p99 (sequential)",
                f"+{ms(a50)} / +{ms(a99)}",
                f"{ms(d50)} / {ms(d99)} total",
                f"≤ {budget50} ms p50, ≤ 2 ms p99",
                verdict,
            )
        )

    direct_rate, _ = await concurrent_rate(direct_plain, args.concurrency, args.requests)
    before = cpu_seconds(pids)
    rate, errors = await concurrent_rate(chat, args.concurrency, args.requests)
    cpu = (cpu_seconds(pids) - before) / args.requests
    rows.append(
        (
            f"req/s at {args.concurrency} concurrent, /chat",
            f"{rate:,.0f} ({errors} errors)",
            f"{direct_rate:,.0f}",
            "",
            "",
        )
    )
    rows.append(("  server CPU per /chat request", ms(cpu), "–", "≤ 0.5 ms", "met" if cpu <= 0.0005 else "NOT met"))
    choice = upstream_choice_seconds()
    rows.append(
        (
            "  choosing among 2 upstreams (UPSTREAMS_FILE), per call",
            f"{choice * 1e6:.1f} µs ({choice / cpu:.1%} of a request's CPU)",
            "–",
            "within the noise",
            "met" if choice / cpu < 0.02 else "NOT met",
        )
    )

    direct_streams = await streams(direct_stream, args.streams)
    rows.append(
        (
            f"{args.streams} concurrent streams, direct",
            f"{direct_streams['completed']} completed",
            f"wall {direct_streams['wall']:.2f} s",
            "",
            "",
        )
    )
    for name, target in (("/chat/stream", chat_stream), ("/v1 stream", v1_stream)):
        before = cpu_seconds(pids)
        with PeakRss(service.pid) as peak:
            result = await streams(target, args.streams)
        cpu = (cpu_seconds(pids) - before) / args.streams
        ratio = result["wall"] / direct_streams["wall"]
        ok = result["errors"] == 0 and result["completed"] == args.streams
        rows.append(
            (
                f"{args.streams} concurrent streams {name}: completed / errors",
                f"{result['completed']} / {result['errors']}",
                f"{direct_streams['completed']} / {direct_streams['errors']}",
                "all / 0",
                "met" if ok else "NOT met",
            )
        )
        rows.append(
            (
                "  wall time, ×direct",
                f"{result['wall']:.2f} s ({ratio:.2f}×)",
                f"{direct_streams['wall']:.2f} s",
                "≤ 1.5×",
                "met" if ratio <= 1.5 else "NOT met",
            )
        )
        if result["ttfb"]:
            ttfb = statistics.median(result["ttfb"])
            rows.append(
                (
                    "  time to first byte p50 / p99",
                    f"{ms(ttfb)} / {ms(percentile(result['ttfb'], 99))}",
                    f"{ms(statistics.median(direct_streams['ttfb']))} / {ms(percentile(direct_streams['ttfb'], 99))}",
                    "≤ 300 ms p50",
                    "met" if ttfb <= 0.3 else "NOT met",
                )
            )
        rows.append(("  server CPU per stream", ms(cpu), "–", "≤ 2 ms", "met" if cpu <= 0.002 else "NOT met"))
        rows.append(
            (
                "  RSS under load (master + workers)",
                f"{peak.peak:.0f} MB",
                "–",
                "≤ 250 MB",
                "met" if peak.peak <= 250 else "NOT met",
            )
        )
    rows += await buffering_cost(args, pids, service, chat_stream, resumable_stream)
    return rows


class _RestsInMemory:
    def __init__(self):
        self.kept = {}

    def rest(self, name, until, failures):
        self.kept[name] = (until, failures)

    def states(self):
        return dict(self.kept)


def upstream_choice_seconds(calls: int = 20000) -> float:
    """CPU of one call's choice of upstream with two upstreams and shared rest (read twice a second): the plan
    and its attempts, measured in this process."""
    two = tuple(UpstreamSpec(name, "http://127.0.0.1:9/v1", "k", models=("gpt-4o-mini",)) for name in ("a", "b"))
    router = Router(Settings(upstreams=two), _RestsInMemory())
    started = time.process_time()
    for _ in range(calls):
        plan = router.plan("gpt-4o-mini", False)
        next(router.attempts(plan, 2))
        router.succeeded(plan[0])
    return (time.process_time() - started) / calls


async def buffering_cost(
    args, pids: list[int], service: subprocess.Popen, plain: Target, resumable: Target
) -> list[tuple]:
    """What a resumable stream costs against a plain one, the same number of each, one after the other."""
    count, figures = args.resumable_streams, {}
    for name, target in (("plain", plain), ("resumable", resumable)):
        before = cpu_seconds(pids)
        with PeakRss(service.pid) as peak:
            result = await streams(target, count)
        figures[name] = (result, (cpu_seconds(pids) - before) / count, peak.peak)
    (plain_result, plain_cpu, plain_rss), (result, cpu, rss) = figures["plain"], figures["resumable"]
    return [
        (
            f"{count} concurrent resumable /chat/stream: completed / errors",
            f"{result['completed']} / {result['errors']}",
            f"plain: {plain_result['completed']} / {plain_result['errors']}",
            "all / 0",
            "met" if result["completed"] == count and not result["errors"] else "NOT met",
        ),
        (
            "  server CPU per stream, resumable / plain",
            f"{ms(cpu)} / {ms(plain_cpu)}",
            f"+{ms(cpu - plain_cpu)} for the buffer",
            "",
            "",
        ),
        ("  peak RSS, resumable / plain", f"{rss:.0f} MB / {plain_rss:.0f} MB", "", "", ""),
    ]


def table(rows: list[tuple], ready: float) -> str:
    rows = rows + [
        ("ready after start (GET /health answers)", f"{ready:.2f} s", "–", "≤ 2 s", "met" if ready <= 2 else "NOT met")
    ]
    lines = ["| figure | service | direct to the upstream | budget | |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the smoke test")
    parser.add_argument("--write", type=pathlib.Path, help="also write the table to this markdown file")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.1, help="seconds between streamed chunks (about 1 s a stream)"
    )
    args = parser.parse_args()
    args.sequential, args.requests, args.streams, args.concurrency, args.resumable_streams = (
        (30, 200, 20, 8, 10) if args.quick else (1000, 6000, 1000, 32, 200)
    )

    upstream_port, service_port = free_port(), free_port()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    env = clean_environment(
        OPENAI_API_KEY="sk-bench-" + "x" * 40,
        OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
        DB_PATH=str(workdir / "store.sqlite3"),
        UPSTREAM_MAX_RETRIES="0",
        MAX_CONCURRENT_PER_CALLER="0",
    )  # the load comes from one address
    upstream_cmd = [
        sys.executable,
        "-m",
        "bench.fast_upstream",
        "--port",
        str(upstream_port),
        "--chunk-delay",
        str(args.chunk_delay),
    ]
    service_cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{service_port}", "main:app"]
    with serving(upstream_cmd, upstream_port, env, workdir / "upstream.log"):
        started = time.perf_counter()
        with open(workdir / "service.log", "wb") as log:
            service = subprocess.Popen(service_cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            ready = time_until_ready(service_port, service, started)
            wait_for_workers(service.pid)
            rows = uvloop.run(measure(args, upstream_port, service_port, service))
        finally:
            stop(service)
    today = datetime.date.today().isoformat()
    output = (
        f"Measured {today} on {machine()}; fake upstream streams {len(WORDS)} chunks "
        f"{args.chunk_delay * 1000:.0f} ms apart.\n\n{table(rows, ready)}\n"
    )
    print(output)
    if args.write:
        args.write.write_text(
            "# Benchmarks\n\n`make bench` writes this file; the numbers are from the last run.\n\n" + output
        )


if __name__ == "__main__":
    main()
