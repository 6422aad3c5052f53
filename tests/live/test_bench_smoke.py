"""The benchmark harness runs end to end in its tiny mode and reports every figure (no timing is asserted)."""

import subprocess
import sys

from tests.support.servers import ROOT


def test_the_benchmark_runs_and_prints_a_complete_table(tmp_path):
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--chunk-delay", "0.01", "--write", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    table = output.read_text()
    for figure in (
        "added latency p50 (sequential), /chat",
        "added latency p50 (sequential), /v1/chat/completions",
        "CPU per request at 8 connections, /v1/chat/completions",
        "req/s at 8 connections, /chat",
        "floor: one Flask route",
        "floor: bare WSGI",
        "Redis round trips per /chat call",
        "concurrent streams /chat/stream",
        "concurrent streams /v1 stream",
        "server CPU per stream",
        "peak RSS (master + workers)",
        "ready after start",
        "concurrent resumable /chat/stream",
        "server CPU per stream, resumable / plain",
        "CPU per /v1/chat/completions with traces on / off",
        "Redis round trips per /chat miss with CACHE_TTL / off",
        "streamed /v1 p50: a hit / the upstream's answer (a miss)",
        "Redis round trips per /chat call, recent calls kept / RECENT_CALLS=0",
    ):
        assert figure in table, figure
    assert table.count("| 20 / 0 | 20 / 0 |  | 20 / 0 |") == 2  # every stream completed, ours and the floors'
    assert "×" in table  # the ratios to the floor
    measured = table[table.index("Measured") :]
    assert measured.strip() in done.stdout  # the file keeps the table that was printed
