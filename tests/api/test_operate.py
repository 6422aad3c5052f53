"""Operating the service, in one process: readiness, proxies, storage outages, logs and metrics of streams."""

import os
import stat

import pytest

from chatgate.web import lifecycle
from tests.support.keys import SERVER_KEY
from tests.support.servers import free_port


def test_liveness_and_readiness(client):
    assert client.get("/health/live").get_json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ready",
        "checks": {"upstream_key": "ok: server key", "storage": "ok", "lifecycle": "ok"},
    }


def test_not_ready_without_a_key_to_use_or_while_shutting_down(make_app, monkeypatch):
    keyless = make_app(openai_api_key=None, allow_client_keys=False).test_client().get("/health/ready")
    assert keyless.status_code == 503
    assert keyless.get_json()["checks"]["upstream_key"].startswith("none: no upstream key")
    assert make_app(openai_api_key=None).test_client().get("/health/ready").status_code == 200  # client keys
    monkeypatch.setattr(lifecycle, "_shutting_down", type(lifecycle._shutting_down)())
    lifecycle.mark_shutting_down()
    stopping = make_app().test_client().get("/health/ready")
    assert stopping.status_code == 503 and stopping.get_json()["checks"]["lifecycle"] == "shutting down"


def test_health_needs_no_token_and_is_never_limited(make_app):
    client = make_app(api_tokens=("tok-" + "h" * 30,), rate_limit="1/hour", max_concurrent_per_caller=1).test_client()
    for path in ("/health", "/health/live", "/health/ready") * 3:
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "hops, forwarded, caller",
    [
        (0, "203.0.113.9", "ip:127.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "203.0.113.9", "ip:203.0.113.9"),  # the one proxy's word is taken
        (1, "6.6.6.6, 203.0.113.9", "ip:203.0.113.9"),  # what the client wrote itself stands left: never read
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "ip:203.0.113.9"),
    ],
)
def test_trusted_proxy_hops_name_the_real_client(make_app, hops, forwarded, caller):
    client = make_app(trusted_proxy_hops=hops).test_client()
    usage = client.get("/usage", headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert usage.get_json()["caller"] == caller


SHAPES = [
    ("post", "/api/sessions", {}, lambda b: b["detail"]),
    ("post", "/chat", {"message": "hi"}, lambda b: b["error"]),
    (
        "post",
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
        lambda b: b["error"]["message"],
    ),
    ("post", "/ask", {"messages": [{"role": "user", "content": "x"}]}, lambda b: b["details"]),
    ("get", "/usage", None, lambda b: b["error"]),
]


@pytest.mark.parametrize("method, path, body, message_of", SHAPES)
def test_redis_down_is_a_503_in_each_surfaces_shape(make_app, upstream, caplog, method, path, body, message_of):
    client = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", token_limit="1000/hour").test_client()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert message_of(response.get_json()).startswith("The service's storage (its database or Redis) is not")
    assert "Traceback" not in caplog.text
    assert len([r for r in caplog.records if r.getMessage().startswith("storage unavailable")]) == 1


def stream_ends(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if r.name == "streams"]


def test_a_line_when_a_stream_ends_says_how(make_app, upstream, caplog):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    client.post("/chat/stream", json={"message": "hi"}).get_data()
    upstream.queue(cut_after=2)
    client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4.1", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ).get_data()
    left = client.post("/ask", json={"messages": [{"role": "user", "content": "x"}]}, buffered=False)
    left.close()
    ends = stream_ends(caplog)
    assert [(e["surface"], e["model"], e["outcome"]) for e in ends] == [
        ("/chat/stream", "gpt-4o-mini", "finished"),
        ("/v1/chat/completions", "gpt-4.1", "upstream failed"),
        ("/ask", "gpt-4o-mini", "client left"),
    ]
    assert ends[0]["caller"] == "ip:127.0.0.1" and ends[0]["completion_tokens"] == 5
    assert all(e["duration_ms"] >= 0 for e in ends)


def test_our_request_id_goes_upstream_and_failures_are_logged_with_theirs(client, upstream, caplog):
    client.post("/chat", json={"message": "hi"}, headers={"X-Request-ID": "trace-77"})
    assert upstream.chat_requests()[-1].headers["X-Request-ID"] == "trace-77"
    upstream.queue(status=401, error_message=f"Incorrect API key provided: {SERVER_KEY}")
    client.post("/chat", json={"message": "hi"})
    failure = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("upstream /chat"))
    assert "rejected_key" in failure and "[upstream request id req_fake_failure]" in failure
    assert "[redacted]" in failure and SERVER_KEY not in caplog.text


def test_metrics_count_upstream_errors_and_stream_outcomes(client, upstream):
    def value(name: str, label: str) -> float:
        for line in client.get("/metrics").get_data(as_text=True).splitlines():
            if line.startswith(f"{name}{{{label}}}"):
                return float(line.split()[-1])
        return 0.0

    before = (
        value("chat_api_upstream_errors_total", 'cause="timeout"'),
        value("chat_api_stream_outcomes_total", 'outcome="finished"'),
    )
    upstream.queue(delay=3)
    client.post("/chat", json={"message": "hi"})
    client.post("/chat/stream", json={"message": "hi"}).get_data()
    assert value("chat_api_upstream_errors_total", 'cause="timeout"') == before[0] + 1
    assert value("chat_api_stream_outcomes_total", 'outcome="finished"') == before[1] + 1
    assert client.get("/metrics").headers["Content-Type"].count("charset") == 1


def test_an_unusable_sqlite_file_is_a_503_and_not_ready(make_app, upstream, tmp_path):
    client = make_app(db_path=str(tmp_path / "no-such-folder" / "store.sqlite3")).test_client()
    made = client.post("/api/sessions", json={})
    assert made.status_code == 503 and made.get_json()["detail"].startswith("The service's storage")
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["storage"].startswith("SQLite: OperationalError")
    assert client.get("/health").status_code == 200 and client.get("/health/live").status_code == 200


def test_the_files_that_hold_conversations_are_its_owners_only(client, upstream, settings):
    made = client.post("/api/chat", json={"developer_message": "d", "user_message": "private"})
    made.get_data()
    files = [settings.db_path + suffix for suffix in ("", "-wal", "-shm")]
    modes = {path: stat.S_IMODE(os.stat(path).st_mode) for path in files if os.path.exists(path)}
    assert settings.db_path in modes and modes == dict.fromkeys(modes, 0o600)


def test_storage_that_does_not_answer_at_start_is_a_warning(make_app, caplog):
    caplog.clear()
    make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert "The storage (Redis) does not answer: every call that needs it is a 503 until it does." in caplog.text
