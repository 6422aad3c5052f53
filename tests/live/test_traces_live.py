"""Traces under the real server: gunicorn's gevent workers with an OpenTelemetry provider answer every request of a
first burst on keep-alive connections, the spans reach the collector, and a worker never forks while it serves."""

import asyncio
import concurrent.futures
import json
import sys

from bench.load import Target, concurrent_rate
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.processes import gunicorn, service_env
from tests.support.servers import free_port, serving

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _burst(target: Target) -> tuple[float, int]:
    """32 keep-alive connections at once, 100 requests, on an event loop of its own thread (the browser tests leave
    one running in this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(concurrent_rate(target, 32, 100))).result()


def test_a_first_burst_on_keep_alive_connections_is_answered_whole_with_traces_on(tmp_path):
    # Three bursts, each the first requests of fresh workers, all answered, and their spans exported by the workers
    # (telemetry/exporter.py under gevent). The loss itself is a race (the benchmark's harness lost a connection in
    # 2 of 3 first bursts before the fix); its cause is checked deterministically by the test below.
    receiver, port = OtlpReceiver(), free_port()
    fast_upstream = [sys.executable, "-m", "bench.fast_upstream", "--port", str(port)]  # answers at once
    try:
        with serving(fast_upstream, port, service_env(""), tmp_path / "upstream.log"):
            for attempt in range(3):
                url = f"http://127.0.0.1:{port}/v1"
                env = service_env(url, MAX_CONCURRENT_PER_CALLER="0", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
                with gunicorn(tmp_path, env) as server:
                    target = Target(server.port, "/v1/chat/completions", BODY, b"")
                    _, errors = _burst(target)
                    assert errors == 0, f"burst {attempt}: {errors} errors"
        spans = receiver.wait_for(3 * 100 * 2)
        assert {s.kind for s in spans} >= {"SERVER", "CLIENT"}
        assert all("sk-" not in json.dumps(s.attributes) for s in spans)  # no key went into a span
    finally:
        receiver.close()


FORK_WATCH = """
import os

from chatgate import gunicorn_conf as service
from chatgate.gunicorn_conf import *  # noqa: F403


def post_worker_init(worker):
    service.post_worker_init(worker)

    def note_fork():
        with open({path!r}, "a") as forks:
            forks.write(f"{{os.getpid()}}\\n")

    os.register_at_fork(before=note_fork)
"""


def test_a_worker_with_traces_on_never_forks_while_serving(tmp_path, upstream):
    # Under gevent a fork runs Python in the child (the tracer provider's at-fork hook), and with it the worker's
    # greenlets, which can take a client's request and leave with it. So no fork may happen once a worker serves:
    # the service's own gunicorn settings, plus a hook that writes down every fork after the worker's start.
    forks = tmp_path / "forks"
    config = tmp_path / "gunicorn_fork_watch.py"
    config.write_text(FORK_WATCH.format(path=str(forks)))
    receiver = OtlpReceiver()
    env = service_env(upstream.base_url, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    try:
        with gunicorn(tmp_path, env, "-c", str(config), "--workers", "1") as server:
            client = server.openai_sdk()
            assert client.chat.completions.create(**BODY).choices[0].message.content  # the worker's first call
            stream = client.chat.completions.create(**BODY, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert client.embeddings.create(model="text-embedding-3-small", input="hi").data
            assert {s.kind for s in receiver.wait_for(6)} >= {"SERVER", "CLIENT"}  # traces were on
    finally:
        receiver.close()
    assert not forks.exists(), f"forked while serving, in process {forks.read_text()}"
