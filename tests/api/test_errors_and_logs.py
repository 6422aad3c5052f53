"""Every error is JSON in the surface's shape; every request gets an id and one log line, with no contents."""

import json
import logging

import pytest

from chatgate.web.request_log import JsonFormatter


@pytest.mark.parametrize(
    "method, path, status, error",
    [
        ("get", "/nope", 404, "Not found: there is no endpoint at /nope."),
        ("get", "/chat", 405, "Method GET is not allowed on /chat."),
        ("delete", "/models", 405, "Method DELETE is not allowed on /models."),
        ("post", "/health", 405, "Method POST is not allowed on /health."),
    ],
)
def test_routing_errors_are_json(client, method, path, status, error):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.get_json() == {"error": error}


def test_405_says_which_methods_are_allowed(client):
    assert "POST" in client.get("/chat/stream").headers["Allow"]


def test_an_unexpected_crash_is_a_json_500_without_a_traceback(make_app, caplog):
    app = make_app()

    @app.get("/crash")
    def crash():
        raise RuntimeError("internal detail")

    response = app.test_client().get("/crash")
    assert response.status_code == 500
    assert response.get_json() == {"error": "The server hit an unexpected error; it has been logged."}
    assert "internal detail" not in response.get_data(as_text=True)
    assert "internal detail" in caplog.text  # but the operator can see it


def test_every_response_has_a_request_id_and_one_access_line(client, caplog):
    caplog.clear()
    response = client.get("/models")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    access = [r for r in caplog.records if r.name == "access"]
    assert len(access) == 1
    assert access[0].request_id == request_id
    assert access[0].getMessage().startswith("GET /models 200 ")


@pytest.mark.parametrize(
    "given, kept", [("abc-123.X_y:z", True), ("bad id with spaces", False), ("x" * 200, False), ("", False)]
)
def test_a_safe_request_id_from_the_client_is_kept(client, given, kept):
    response = client.get("/health", headers={"X-Request-ID": given})
    assert (response.headers["X-Request-ID"] == given) is kept


def test_log_lines_of_a_request_carry_its_id(make_app, upstream, caplog):
    client = make_app(stream_continuation=False).test_client()  # today's end, without continuation
    upstream.queue(cut_after=1)
    response = client.post("/chat/stream", json={"message": "hi"}, headers={"X-Request-ID": "trace-42"})
    response.get_data()
    lines = [r for r in caplog.records if r.name in ("access", "chatgate.web.streaming")]
    assert {r.name for r in lines} == {"access", "chatgate.web.streaming"}
    assert all(r.request_id == "trace-42" for r in lines)


def test_message_contents_are_not_logged_unless_asked(make_app, caplog):
    make_app().test_client().post("/chat", json={"message": "my private question"})
    assert "my private question" not in caplog.text
    make_app(log_message_contents=True).test_client().post("/chat", json={"message": "my debug question"})
    assert "my debug question" in caplog.text


def test_json_log_format_is_one_object_per_line():
    record = logging.LogRecord("access", logging.INFO, __file__, 1, "GET / 200 %s", ("1.0ms",), None)
    record.request_id = "r1"
    record.fields = {"status": 200}
    line = JsonFormatter().format(record)
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "access",
        "request_id": "r1",
        "message": "GET / 200 1.0ms",
        "status": 200,
    }
