"""Traces: with an OTLP endpoint, a SERVER span per request and a CLIENT span per upstream attempt in the GenAI
conventions reach a real OTLP/HTTP receiver; content only when asked; never a key; traceparent in and on."""

import json
import logging
import subprocess
import sys

import pytest

from chatgate.config import ConfigError, Settings
from tests.support.keys import client_key, secret
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.servers import ROOT, free_port
from tests.support.upstreams_file import chat, table

TOKEN = secret("tok-trace-" + "t" * 30)
BODY = {"model": "gpt-4o-mini", "max_tokens": 50, "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def receiver():
    received = OtlpReceiver()
    yield received
    received.close()


@pytest.fixture
def traced(make_app, receiver):
    apps = []

    def build(**changes):
        app = make_app(otlp_traces_endpoint=receiver.url + "/v1/traces", **changes)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["tracer"].shutdown()


def spans_of(app, receiver, count):
    app.extensions["tracer"].force_flush()
    return receiver.wait_for(count)


def one(spans, kind):
    found = [span for span in spans if span.kind == kind]
    assert len(found) == 1, found
    return found[0]


def test_a_call_is_a_server_span_with_a_genai_client_span_under_it(traced, receiver, upstream):
    app = traced(api_tokens=(TOKEN,), otlp_headers=(("Authorization", "Bearer collector-key"),))
    answer = app.test_client().post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    spans = spans_of(app, receiver, 2)
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server.name == "POST /v1/chat/completions" and server.service == "chatgate"
    assert server.attributes["http.route"] == "/v1/chat/completions"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["chatgate.caller"].startswith("token:")
    assert client.parent_id == server.span_id and client.trace_id == server.trace_id
    assert client.name == "chat gpt-4o-mini"
    body = answer.get_json()
    assert {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": body["model"],
        "gen_ai.response.id": body["id"],
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
        "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"],
        "server.address": "127.0.0.1",
        "server.port": int(upstream.base_url.rsplit(":", 1)[1].split("/")[0]),
    }.items() <= client.attributes.items()
    assert client.attributes["chatgate.cost.usd"] > 0
    assert "gen_ai.input.messages" not in client.attributes and "gen_ai.output.messages" not in client.attributes
    assert server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns
    assert receiver.headers_seen[-1]["Authorization"] == "Bearer collector-key"  # OTEL_EXPORTER_OTLP_HEADERS


def test_a_stream_says_its_time_to_first_chunk_and_how_it_finished(traced, receiver, upstream):
    app = traced()
    streamed = app.test_client().post("/v1/chat/completions", json={**BODY, "stream": True})
    assert b"data: [DONE]" in streamed.data
    client = one(spans_of(app, receiver, 2), "CLIENT")
    assert client.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert client.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert client.attributes["gen_ai.response.id"].startswith("chatcmpl-")
    assert client.attributes["gen_ai.usage.output_tokens"] == 5


def test_each_attempt_of_a_failed_over_call_is_its_own_span_named_by_its_upstream(serve, a, b, receiver):
    client = serve(
        table("a", a.base_url, "KEY_A", weight=1_000_000),
        table("b", b.base_url, "KEY_B"),
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url + "/v1/traces",
    )
    with a.behave(status=502):
        assert chat(client).status_code == 200
    attempts = sorted(
        (s for s in spans_of(client.application, receiver, 3) if s.kind == "CLIENT"), key=lambda s: s.start_ns
    )
    assert [(s.attributes["chatgate.upstream"], s.attributes.get("error.type"), s.status) for s in attempts] == [
        ("a", "server_error", 2),
        ("b", None, 0),
    ]
    client.application.extensions["tracer"].shutdown()


def test_a_fallback_models_attempt_names_the_model_that_served(serve, a, b, receiver):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        fallbacks='"gpt-4o" = ["gpt-4o-mini"]\n',
        UPSTREAM_MAX_RETRIES="0",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
    )
    with a.behave(status=503):
        assert chat(client, "gpt-4o").headers["X-Fallback-Model"] == "gpt-4o-mini"
    attempts = [s for s in spans_of(client.application, receiver, 3) if s.kind == "CLIENT"]
    assert sorted(s.name for s in attempts) == ["chat gpt-4o", "chat gpt-4o-mini"]
    served = next(s for s in attempts if s.name == "chat gpt-4o-mini")
    assert served.attributes["gen_ai.request.model"] == "gpt-4o-mini" and "error.type" not in served.attributes
    client.application.extensions["tracer"].shutdown()


def test_an_embedding_is_an_embeddings_span(traced, receiver, upstream):
    app = traced()
    body = {"model": "text-embedding-3-small", "input": "hello"}
    assert app.test_client().post("/v1/embeddings", json=body).status_code == 200
    client = one(spans_of(app, receiver, 2), "CLIENT")
    assert client.name == "embeddings text-embedding-3-small"
    assert client.attributes["gen_ai.operation.name"] == "embeddings"


def test_a_refused_call_has_its_server_span_only(traced, receiver, upstream):
    app = traced(token_limit="10/hour")
    refused = app.test_client().post("/v1/chat/completions", json={**BODY, "max_tokens": 500})
    assert refused.status_code == 429
    server = one(spans_of(app, receiver, 1), "SERVER")
    assert server.attributes["http.response.status_code"] == 429
    app.extensions["tracer"].force_flush()
    assert [s.kind for s in receiver.spans] == ["SERVER"]


def test_content_only_when_asked(traced, receiver, upstream):
    app = traced(capture_message_content=True)
    answer = app.test_client().post("/v1/chat/completions", json=BODY).get_json()
    client = one(spans_of(app, receiver, 2), "CLIENT")
    assert '"content":"hi"' in client.attributes["gen_ai.input.messages"]
    assert answer["choices"][0]["message"]["content"] in client.attributes["gen_ai.output.messages"]


def test_a_streamed_replys_text_is_captured_when_asked(traced, receiver, upstream):
    app = traced(capture_message_content=True)
    streamed = app.test_client().post("/chat/stream", json={"message": "hi"})
    text = "".join(
        json.loads(line[6:])["content"] for line in streamed.get_data(as_text=True).splitlines() if '"content"' in line
    )
    client = one(spans_of(app, receiver, 2), "CLIENT")
    assert json.loads(client.attributes["gen_ai.output.messages"]) == [{"role": "assistant", "content": text}]
    assert text


def test_no_key_or_token_is_in_any_span(traced, receiver, upstream):
    own = client_key()
    app = traced(api_tokens=(TOKEN,), capture_message_content=True)
    headers = {"X-API-Key": TOKEN, "X-OpenAI-Key": own}
    assert app.test_client().post("/v1/chat/completions", json=BODY, headers=headers).status_code == 200
    spans = spans_of(app, receiver, 2)
    assert upstream.chat_requests()[-1].headers["Authorization"] == f"Bearer {own}"  # the key did go upstream...
    assert all(TOKEN.encode() not in s.raw and own.encode() not in s.raw for s in spans)  # ...and into no span


def test_a_callers_traceparent_is_continued_and_the_upstream_gets_ours(traced, receiver, upstream):
    app = traced()
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    assert app.test_client().post("/v1/chat/completions", json=BODY, headers=headers).status_code == 200
    server = one(spans_of(app, receiver, 2), "SERVER")
    assert (server.trace_id, server.parent_id) == (trace_id, parent)
    sent = upstream.chat_requests()[-1].headers["traceparent"]
    assert sent.split("-")[1:3] == [trace_id, server.span_id]


def test_the_access_line_carries_the_trace_id(traced, receiver, upstream, caplog):
    app = traced()
    with caplog.at_level(logging.INFO, logger="access"):
        app.test_client().post("/v1/chat/completions", json=BODY)
    server = one(spans_of(app, receiver, 2), "SERVER")
    lines = [r for r in caplog.records if r.name == "access"]
    assert lines[-1].fields["trace_id"] == server.trace_id


def test_an_unreachable_collector_costs_a_call_nothing(make_app, upstream):
    app = make_app(otlp_traces_endpoint=f"http://127.0.0.1:{free_port()}/v1/traces")
    assert [app.test_client().post("/v1/chat/completions", json=BODY).status_code for _ in range(3)] == [200] * 3
    app.extensions["tracer"].shutdown()


def test_off_neither_the_tracing_sdk_nor_its_exporter_is_imported(tmp_path):
    # (redis-py imports OpenTelemetry's API for its own metrics when it is installed: not ours to load or not.)
    loaded = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "chatgate.telemetry.tracing")
    code = (
        "import sys; from chatgate.app import create_app; from chatgate.config import Settings; "
        f"app = create_app(Settings(db_path={str(tmp_path / 'store.sqlite3')!r})); "
        "app.test_client().post('/chat', json={}); "
        f"print(sorted(m for m in sys.modules if m.startswith({loaded!r})), 'tracer' in app.extensions)"
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["[]", "False"]


def test_a_sessions_call_names_its_conversation(traced, receiver, upstream):
    app = traced()
    answer = app.test_client().post("/api/chat", json={"developer_message": "Be brief.", "user_message": "hi"})
    assert answer.status_code == 200 and answer.data
    client = one(spans_of(app, receiver, 2), "CLIENT")
    assert client.attributes["gen_ai.conversation.id"] == answer.headers["X-Session-ID"]


def test_a_resumed_streams_reader_links_to_the_request_that_started_it(traced, receiver, upstream):
    app = traced()
    client = app.test_client()
    started = client.post("/v1/chat/completions", json={**BODY, "stream": True}, headers={"X-Resumable": "true"})
    assert b"data: [DONE]" in started.data
    resumed = client.get(f"/streams/{started.headers['X-Stream-ID']}")
    assert b"data: [DONE]" in resumed.data
    servers = {s.name: s for s in spans_of(app, receiver, 3) if s.kind == "SERVER"}
    generation, reader = servers["POST /v1/chat/completions"], servers["GET /streams/<stream_id>"]
    assert reader.links == [(generation.trace_id, generation.span_id)]
    generated = one([s for s in receiver.spans if s.kind == "CLIENT"], "CLIENT")
    assert generated.parent_id == generation.span_id


def test_grpc_without_its_exporter_is_a_configuration_error_naming_it(make_app):
    with pytest.raises(ConfigError, match="opentelemetry-exporter-otlp-proto-grpc"):
        make_app(otlp_traces_endpoint="http://127.0.0.1:4317", otlp_protocol="grpc")


@pytest.mark.parametrize(
    "environment, endpoint",
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http://c:4317"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, "http://t/x"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None),
        ({}, None),
    ],
)
def test_the_traces_endpoint_follows_opentelemetrys_rules(environment, endpoint):
    assert Settings.from_env(environment, dotenv=False).otlp_traces_endpoint == endpoint


def test_otlp_headers_are_read_in_opentelemetrys_format():
    environment = {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b, x-team=ml"}
    assert Settings.from_env(environment, dotenv=False).otlp_headers == (("api-key", "a b"), ("x-team", "ml"))
    with pytest.raises(ConfigError, match="key=value"):
        Settings.from_env({"OTEL_EXPORTER_OTLP_HEADERS": "no-equals-sign"}, dotenv=False)


def test_a_continued_stream_shows_its_continuation_as_a_call_of_its_own(traced, receiver, upstream):
    app = traced()
    upstream.queue(reply="The quick brown fox", cut_after=2)
    upstream.queue(reply=" brown fox.")
    streamed = app.test_client().post("/v1/chat/completions", json={**BODY, "stream": True})
    assert b"data: [DONE]" in streamed.data
    calls = [span for span in spans_of(app, receiver, 3) if span.kind == "CLIENT"]
    cut, continued = sorted(calls, key=lambda span: "chatgate.continues_after_characters" in span.attributes)
    assert cut.attributes["error.type"] == "cut" and "chatgate.continues_after_characters" not in cut.attributes
    assert continued.attributes["chatgate.continues_after_characters"] == len("The quick")
    assert continued.attributes["gen_ai.response.finish_reasons"] == ["stop"]
