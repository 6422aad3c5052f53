"""`python -m bench`: the service against the floor, in one run.

Starts a fast fake upstream; the service under the shipped gunicorn config; and two floors under the same config
(`bench/floor.py`: one Flask route and one bare WSGI function that forward the body to the same upstream). Each
figure is measured for the service and for the floor in the same run and reported as a ratio, which stays
meaningful on a noisy machine. Then: what a resumable stream's buffer costs, how many round trips a call makes to
a Redis one delayed round trip away, what traces cost, what the response cache costs and saves, what keeping
the recent calls costs, and what a response costs in WebSocket mode beside a POST. Prints markdown tables;
`--quick` is the smoke-test size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import orjson
import uvloop
from websockets.asyncio.client import connect as connect_websocket

from bench.client import Connection
from bench.fast_upstream import WORDS
from bench.load import Target, concurrent_rate, sequential, streams
from bench.processes import PeakRss, cpu_seconds, process_tree, rss_mb, time_until_ready, wait_for_workers
from chatgate.config import Settings, UpstreamSpec
from chatgate.upstream.routing import Router
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.redis_relay import DelayingRelay
from tests.support.redis_server import RedisServer
from tests.support.servers import ROOT, clean_environment, free_port, serving, stop

HELLO = [{"role": "user", "content": "Say hello"}]
V1 = "/v1/chat/completions"
BENCH_TOKEN = "bench-token-" + "x" * 32


@dataclasses.dataclass
class Server:
    """A measured gunicorn: its port and the pids of its master and workers."""

    port: int
    process: subprocess.Popen
    pids: list[int]


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], log: pathlib.Path):
    """`app` under the service's gunicorn settings (gunicorn.conf.py, read from the project root), until the block
    ends; with the seconds it took to answer GET /health, or None for an app without it."""
    port = free_port()
    started = time.perf_counter()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", app],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = time_until_ready(port, process, started, "/health" if app == "main:app" else None)
        wait_for_workers(process.pid, int(env.get("WEB_CONCURRENCY", Settings.web_concurrency)))
        yield Server(port, process, process_tree(process.pid)), ready
    finally:
        stop(process)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def cpu_and_rate(targets: dict[str, tuple[Server, Target]], args) -> dict[str, tuple[float, float, int]]:
    """CPU seconds per request, requests per second and errors at `args.concurrency` connections, for each target;
    in alternated rounds, so that the machine's drift falls on all of them alike."""
    spent = {name: [0.0, 0.0, 0] for name in targets}
    per_round = args.requests // args.rounds
    for _ in range(args.rounds):
        for name, (server, target) in targets.items():
            before, started = cpu_seconds(server.pids), time.perf_counter()
            _, errors = await concurrent_rate(target, args.concurrency, per_round)
            spent[name][0] += time.perf_counter() - started
            spent[name][1] += cpu_seconds(server.pids) - before
            spent[name][2] += errors
    total = per_round * args.rounds
    return {name: (cpu / total, total / wall, errors) for name, (wall, cpu, errors) in spent.items()}


async def stream_figures(server: Server, target: Target, count: int) -> dict:
    before = cpu_seconds(server.pids)
    with PeakRss(server.process.pid) as peak:
        result = await streams(target, count)
    result["cpu"] = (cpu_seconds(server.pids) - before) / count
    result["rss"] = peak.peak
    result["ttfb50"] = statistics.median(result["ttfb"]) if result["ttfb"] else float("inf")
    return result


async def against_the_floor(args, upstream_port: int, ours: Server, floor: Server, bare: Server) -> list[tuple]:
    """Rows of (figure, ours, floor, ratio, bare WSGI, goal, verdict)."""
    plain = {"model": "gpt-4o-mini", "messages": HELLO}
    streamed = {**plain, "stream": True}
    targets = {
        "floor": (floor, Target(floor.port, V1, plain, b"")),
        "bare": (bare, Target(bare.port, V1, plain, b"")),
        "v1": (ours, Target(ours.port, V1, plain, b"")),
        "chat": (ours, Target(ours.port, "/chat", {"message": "Say hello"}, b"")),
    }
    rows = []
    direct = statistics.median(await sequential(Target(upstream_port, V1, plain, b""), args.sequential))
    added = {
        name: statistics.median(await sequential(target, args.sequential)) - direct
        for name, (_, target) in targets.items()
    }
    for name, path in (("v1", V1), ("chat", "/chat")):
        extra = added[name] - added["floor"]
        rows.append(
            (
                f"added latency p50 (sequential), {path}",
                f"+{ms(added[name])}",
                f"+{ms(added['floor'])}",
                f"+{ms(extra)}",
                f"+{ms(added['bare'])}",
                "≤ floor + 0.4 ms" if name == "v1" else "",
                verdict(extra <= 0.0004) if name == "v1" else "",
            )
        )
    figures = await cpu_and_rate(targets, args)
    (floor_cpu, floor_rate, _), (bare_cpu, bare_rate, _) = figures["floor"], figures["bare"]
    for name, path in (("v1", V1), ("chat", "/chat")):
        cpu, rate, errors = figures[name]
        rows.append(
            (
                f"CPU per request at {args.concurrency} connections, {path}",
                ms(cpu),
                ms(floor_cpu),
                f"{cpu / floor_cpu:.2f}×",
                ms(bare_cpu),
                "≤ 1.5×",
                verdict(cpu / floor_cpu <= 1.5 and not errors),
            )
        )
        rows.append(
            (
                f"req/s at {args.concurrency} connections, {path}",
                f"{rate:,.0f} ({errors} errors)",
                f"{floor_rate:,.0f}",
                f"{rate / floor_rate:.2f}×",
                f"{bare_rate:,.0f}",
                "≥ 0.65×",
                verdict(rate / floor_rate >= 0.65 and not errors),
            )
        )
    floor_streams = await stream_figures(floor, Target(floor.port, V1, streamed, b"[DONE]"), args.streams)
    bare_streams = await stream_figures(bare, Target(bare.port, V1, streamed, b"[DONE]"), args.streams)
    for path, target in (
        ("/chat/stream", Target(ours.port, "/chat/stream", {"message": "Say hello"}, b'"done":true')),
        ("/v1 stream", Target(ours.port, V1, streamed, b"[DONE]")),
    ):
        result = await stream_figures(ours, target, args.streams)
        n = args.streams
        ttfb_goal = max(0.3, 1.5 * floor_streams["ttfb50"])
        rows += [
            (
                f"{n} concurrent streams {path}: completed / errors",
                f"{result['completed']} / {result['errors']}",
                f"{floor_streams['completed']} / {floor_streams['errors']}",
                "",
                f"{bare_streams['completed']} / {bare_streams['errors']}",
                "all / 0",
                verdict(result["completed"] == n and not result["errors"]),
            ),
            (
                "  wall time",
                f"{result['wall']:.2f} s",
                f"{floor_streams['wall']:.2f} s",
                f"{result['wall'] / floor_streams['wall']:.2f}×",
                f"{bare_streams['wall']:.2f} s",
                "≤ 1.25×",
                verdict(result["wall"] / floor_streams["wall"] <= 1.25),
            ),
            (
                "  time to first byte p50",
                ms(result["ttfb50"]),
                ms(floor_streams["ttfb50"]),
                f"{result['ttfb50'] / floor_streams['ttfb50']:.2f}×",
                ms(bare_streams["ttfb50"]),
                f"≤ {ms(ttfb_goal)}",
                verdict(result["ttfb50"] <= ttfb_goal),
            ),
            (
                "  server CPU per stream",
                ms(result["cpu"]),
                ms(floor_streams["cpu"]),
                f"{result['cpu'] / floor_streams['cpu']:.2f}×",
                ms(bare_streams["cpu"]),
                "",
                "",
            ),
            (
                "  peak RSS (master + workers)",
                f"{result['rss']:.0f} MB",
                f"{floor_streams['rss']:.0f} MB",
                "",
                f"{bare_streams['rss']:.0f} MB",
                "≤ 250 MB",
                verdict(result["rss"] <= 250),
            ),
        ]
    return rows


async def other_figures(args, ours: Server, ready: float, idle_rss: float) -> list[tuple]:
    """Rows of (figure, figure, note, goal, verdict)."""
    rows = [
        ("RSS idle (master + workers)", f"{idle_rss:.0f} MB", "", "", ""),
        ("ready after start (GET /health answers)", f"{ready:.2f} s", "", "≤ 2 s", verdict(ready <= 2)),
    ]
    choice = upstream_choice_seconds()
    rows.append(
        (
            "choosing among 2 upstreams (UPSTREAMS_FILE), per call",
            f"{choice * 1e6:.1f} µs",
            "in this process, from a plan to its first attempt",
            "",
            "",
        )
    )
    count, figures = args.resumable_streams, {}
    for name, headers in (("plain", {}), ("resumable", {"X-Resumable": "true"})):
        target = Target(ours.port, "/chat/stream", {"message": "Say hello"}, b'"done":true', headers)
        figures[name] = await stream_figures(ours, target, count)
    plain, resumable = figures["plain"], figures["resumable"]
    rows += [
        (
            f"{count} concurrent resumable /chat/stream: completed / errors",
            f"{resumable['completed']} / {resumable['errors']}",
            f"plain: {plain['completed']} / {plain['errors']}",
            "all / 0",
            verdict(resumable["completed"] == count and not resumable["errors"]),
        ),
        (
            "  server CPU per stream, resumable / plain",
            f"{ms(resumable['cpu'])} / {ms(plain['cpu'])}",
            f"+{ms(resumable['cpu'] - plain['cpu'])} for the buffer",
            "",
            "",
        ),
        ("  peak RSS, resumable / plain", f"{resumable['rss']:.0f} MB / {plain['rss']:.0f} MB", "", "", ""),
    ]
    return rows


async def _responses_over_websocket(port: int, body: dict, count: int) -> list[float]:
    """Seconds per response, `count` of them one after another on one WebSocket mode connection (after warm-ups)."""
    create = orjson.dumps({"type": "response.create", **body}).decode()
    times = []
    async with connect_websocket(f"ws://127.0.0.1:{port}/v1/responses") as connection:
        for number in range(min(50, count) + count):
            started = time.perf_counter()
            await connection.send(create)
            while orjson.loads(await connection.recv())["type"] not in ("response.completed", "error"):
                pass
            if number >= min(50, count):
                times.append(time.perf_counter() - started)
    return times


async def websocket_mode(args, env: dict[str, str], workdir: pathlib.Path) -> list[tuple]:
    """Responses one after another on one WebSocket mode connection, beside the same as POST /v1/responses streams
    on one keep-alive connection, from an upstream that streams at once: the time and the server CPU per response."""
    port, count = free_port(), args.websocket_responses
    env = {**env, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "DB_PATH": str(workdir / "websocket.sqlite3")}
    upstream = [sys.executable, "-m", "bench.fast_upstream", "--port", str(port), "--chunk-delay", "0"]
    body = {"model": "gpt-4o-mini", "input": "Say hello"}
    with (
        serving(upstream, port, env, workdir / "websocket-upstream.log"),
        gunicorn("main:app", env, workdir / "websocket-service.log") as (server, _),
    ):
        spent = {}
        before = cpu_seconds(server.pids)
        posted = statistics.median(
            await sequential(Target(server.port, "/v1/responses", {**body, "stream": True}, b""), count)
        )
        spent["post"], before = cpu_seconds(server.pids) - before, cpu_seconds(server.pids)
        socket = statistics.median(await _responses_over_websocket(server.port, body, count))
        spent["websocket"] = cpu_seconds(server.pids) - before
    calls = count + min(50, count)
    return [
        (
            f"WebSocket mode: {count} responses in a row, p50 per response, one connection / POST streams",
            f"{ms(socket)} / {ms(posted)}",
            f"{socket / posted:.2f}×",
            "",
            "",
        ),
        (
            "  server CPU per response, WebSocket mode / POST",
            f"{ms(spent['websocket'] / calls)} / {ms(spent['post'] / calls)}",
            f"{spent['websocket'] / spent['post']:.2f}×",
            "",
            "",
        ),
    ]


async def redis_round_trips(args, env: dict[str, str], workdir: pathlib.Path) -> list[tuple]:
    """Round trips to Redis per /chat call with a service token, RATE_LIMIT and TOKEN_LIMIT on, counted at a relay
    in front of Redis; and what a call takes with that relay adding `args.redis_delay` to each."""
    if not shutil.which("redis-server") and not os.path.exists("/usr/bin/redis-server"):
        return [("Redis round trips per /chat call", "not measured: no redis-server on this machine", "", "≤ 3", "")]
    redis_server = RedisServer(workdir)
    try:
        relay = DelayingRelay(redis_server.port, 0.0)
        settings = {
            "REDIS_URL": relay.url,
            "API_TOKENS": BENCH_TOKEN,
            "RATE_LIMIT": "100000000/minute",
            "TOKEN_LIMIT": "100000000000/minute",
        }
        with gunicorn("main:app", {**env, **settings}, workdir / "service-redis.log") as (server, _):
            target = Target(
                server.port, "/chat", {"message": "Say hello"}, b"", {"Authorization": f"Bearer {BENCH_TOKEN}"}
            )
            await sequential(target, 50)  # connections open, scripts loaded, the token's window written
            before = relay.round_trips
            near = statistics.median(await sequential(target, args.redis_calls))
            trips = (relay.round_trips - before) / (args.redis_calls + min(50, args.redis_calls))
            relay.delay = args.redis_delay
            far = statistics.median(await sequential(target, args.redis_calls))
    finally:
        redis_server.stop()
    return [
        (
            "Redis round trips per /chat call (service token, RATE_LIMIT, TOKEN_LIMIT)",
            f"{trips:.1f}",
            "counted at a relay in front of Redis",
            "≤ 3",
            verdict(trips <= 3.05),
        ),
        (
            f"  /chat p50 with Redis {ms(args.redis_delay)} away / next door",
            f"{ms(far)} / {ms(near)}",
            f"+{ms(far - near)} (≈ {(far - near) / args.redis_delay:.1f} round trips)",
            "",
            "",
        ),
    ]


async def _trips_per_call(connection: Connection, relay: DelayingRelay, path: str, label: str, count: int) -> float:
    """Redis round trips per call of `path`, each a new question (`label` keeps them apart from other runs')."""
    auth = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    for number in range(10):  # connections open, scripts loaded
        await connection.request("POST", path, orjson.dumps({"message": f"{label} warm {number}"}), auth)
    before = relay.round_trips
    for number in range(count):
        status, *_ = await connection.request("POST", path, orjson.dumps({"message": f"{label} {number}"}), auth)
        assert status == 200, status
    return (relay.round_trips - before) / count


async def cache_and_recording_figures(args, env: dict[str, str], workdir: pathlib.Path) -> list[tuple]:
    """On Redis behind a counting relay: the round trips of a /chat miss with the response cache on beside off (each
    call a new question), a streamed /v1 hit's time beside the upstream's answer (a miss); and what keeping each
    call in the recent calls costs, plain and streamed, beside RECENT_CALLS=0."""
    if not shutil.which("redis-server") and not os.path.exists("/usr/bin/redis-server"):
        return [("Response cache and recent calls", "not measured: no redis-server on this machine", "", "", "")]
    redis_server = RedisServer(workdir)
    trips: dict[tuple[str, str], float] = {}
    try:
        relay = DelayingRelay(redis_server.port, 0.0)
        for name, extra in (("usual", {}), ("cache", {"CACHE_TTL": "1h"}), ("unrecorded", {"RECENT_CALLS": "0"})):
            settings = {"REDIS_URL": relay.url, "API_TOKENS": BENCH_TOKEN, "RATE_LIMIT": "100000000/minute", **extra}
            with gunicorn("main:app", {**env, **settings}, workdir / f"service-trips-{name}.log") as (server, _):
                connection = await Connection.open(server.port)
                try:
                    for path in ("/chat", "/chat/stream"):
                        trips[name, path] = await _trips_per_call(connection, relay, path, name, args.redis_calls)
                finally:
                    connection.close()
                if name == "cache":
                    auth = {"Authorization": f"Bearer {BENCH_TOKEN}"}
                    streamed = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
                    hit = Target(server.port, V1, streamed, b"[DONE]", auth)
                    miss = Target(server.port, V1, streamed, b"[DONE]", {**auth, "Cache-Control": "no-cache"})
                    missed = statistics.median(await sequential(miss, args.cache_misses))
                    hits = statistics.median(await sequential(hit, args.redis_calls))
    finally:
        redis_server.stop()
    cached = trips["cache", "/chat"] - trips["usual", "/chat"]
    recorded = {path: trips["usual", path] - trips["unrecorded", path] for path in ("/chat", "/chat/stream")}
    return [
        (
            "Redis round trips per /chat miss with CACHE_TTL / off",
            f"{trips['cache', '/chat']:.1f} / {trips['usual', '/chat']:.1f}",
            f"+{cached:.1f}: the lookup (the entry travels with the call's end)",
            "≤ +1",
            verdict(cached <= 1.05),
        ),
        (
            "streamed /v1 p50: a hit / the upstream's answer (a miss)",
            f"{ms(hits)} / {ms(missed)}",
            f"{missed / hits:.0f}× faster",
            "≥ 5×",
            verdict(missed / hits >= 5),
        ),
        (
            "Redis round trips per /chat call, recent calls kept / RECENT_CALLS=0",
            f"{trips['usual', '/chat']:.1f} / {trips['unrecorded', '/chat']:.1f}",
            f"+{recorded['/chat']:.1f}: the record travels with the call's end-of-call writes",
            "≤ +1",
            verdict(recorded["/chat"] <= 1.05),
        ),
        (
            "  per /chat/stream call",
            f"{trips['usual', '/chat/stream']:.1f} / {trips['unrecorded', '/chat/stream']:.1f}",
            f"+{recorded['/chat/stream']:.1f}: a stream's record is written when it ends",
            "≤ +1",
            verdict(recorded["/chat/stream"] <= 1.05),
        ),
    ]


async def tracing_cost(args, env: dict[str, str], workdir: pathlib.Path, ours: Server) -> list[tuple]:
    """CPU per /v1 call with traces on (to a local OTLP receiver) beside off, in alternated rounds."""
    receiver = OtlpReceiver()
    try:
        traced_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with gunicorn("main:app", traced_env, workdir / "service-traced.log") as (traced, _):
            plain = {"model": "gpt-4o-mini", "messages": HELLO}
            targets = {
                "off": (ours, Target(ours.port, V1, plain, b"")),
                "on": (traced, Target(traced.port, V1, plain, b"")),
            }
            try:
                figures = await cpu_and_rate(targets, args)
            except (OSError, asyncio.IncompleteReadError) as error:  # said in the table, not a crash of the bench
                return [("CPU per /v1/chat/completions with traces on / off", "not measured", repr(error), "", "")]
        spans = len(receiver.spans)
    finally:
        receiver.close()
    (off, _, _), (on, _, errors) = figures["off"], figures["on"]
    return [
        (
            "CPU per /v1/chat/completions with traces on / off",
            f"{ms(on)} / {ms(off)}",
            f"+{ms(on - off)} ({on / off:.2f}×) for 2 spans a call; {spans:,} spans received, {errors} errors",
            "",
            "",
        )
    ]


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


def markdown(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


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


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for the smoke test")
    parser.add_argument("--write", type=pathlib.Path, help="also write the tables to this markdown file")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.1, help="seconds between streamed chunks (about 1 s a stream)"
    )
    parser.add_argument("--redis-delay", type=float, default=0.002, help="the round trip the Redis relay adds")
    args = parser.parse_args()
    sizes = (30, 240, 20, 8, 10, 3, 20, 2, 10) if args.quick else (1000, 12000, 1000, 32, 200, 3, 300, 5, 300)
    (
        args.sequential,
        args.requests,
        args.streams,
        args.concurrency,
        args.resumable_streams,
        args.rounds,
        args.redis_calls,
        args.cache_misses,
        args.websocket_responses,
    ) = sizes
    return args


def main() -> None:
    args = arguments()
    upstream_port = free_port()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-"))
    env = clean_environment(
        OPENAI_API_KEY="sk-bench-" + "x" * 40,
        OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
        DB_PATH=str(workdir / "store.sqlite3"),
        UPSTREAM_MAX_RETRIES="0",
        MAX_CONCURRENT_PER_CALLER="0",  # the load comes from one address
    )
    upstream = [sys.executable, "-m", "bench.fast_upstream", "--port", str(upstream_port)]
    upstream += ["--chunk-delay", str(args.chunk_delay)]
    with (
        serving(upstream, upstream_port, env, workdir / "upstream.log"),
        gunicorn("main:app", env, workdir / "service.log") as (ours, ready),
        gunicorn("bench.floor:flask_app", env, workdir / "floor.log") as (floor, _),
        gunicorn("bench.floor:wsgi_app", env, workdir / "bare.log") as (bare, _),
    ):
        idle_rss = rss_mb(ours.pids)
        floor_rows = uvloop.run(against_the_floor(args, upstream_port, ours, floor, bare))
        other_rows = uvloop.run(other_figures(args, ours, ready, idle_rss))
        other_rows += uvloop.run(redis_round_trips(args, env, workdir))
        other_rows += uvloop.run(tracing_cost(args, env, workdir, ours))
        other_rows += uvloop.run(cache_and_recording_figures(args, env, workdir))
        other_rows += uvloop.run(websocket_mode(args, env, workdir))
    output = (
        f"Measured {datetime.date.today().isoformat()} on {machine()}; gunicorn with gevent, "
        f"{Settings.web_concurrency} workers each; the fake upstream streams {len(WORDS)} chunks "
        f"{args.chunk_delay * 1000:.0f} ms apart. CPU and req/s: {args.requests:,} requests each, in "
        f"{args.rounds} alternated rounds.\n\n"
        + markdown(("figure", "ours", "floor: one Flask route", "ratio", "floor: bare WSGI", "goal", ""), floor_rows)
        + "\n\n"
        + markdown(("figure", "ours", "", "goal", ""), other_rows)
        + "\n"
    )
    print(output)
    if args.write:
        args.write.write_text(
            "# Benchmarks\n\n`make bench` writes this file; the numbers are from the last run. The floor is "
            "`bench/floor.py`: a relay that forwards the body to the same upstream with nothing in between.\n\n"
            + output
        )


if __name__ == "__main__":
    main()
