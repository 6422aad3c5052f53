"""The load: sequential calls, a rate over keep-alive connections, and many streams at once."""

from __future__ import annotations

import asyncio
import time

import orjson

from bench.client import Connection


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
