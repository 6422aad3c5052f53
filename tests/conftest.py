"""Shared fixtures: a real fake upstream, apps built from explicit settings, and a secret watch."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from chatgate.app import create_app
from chatgate.config import VARIABLES, Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.keys import KNOWN_SECRETS, SERVER_KEY

pytest_plugins = ["tests.support.redis_server"]  # the browser's fixtures load with tests/live alone


TEST_TIMEOUT = 1.0  # the upstream timeout the tests' apps use; faults delay past it


class RecordingClient(FlaskClient):
    """A test client that keeps every response, so the suite can check them all for secrets."""

    seen: list = []

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        RecordingClient.seen.append(response)
        return response


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Drop every variable the service reads, so only the test's own settings count."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def fake_upstream():
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(fake_upstream):
    """The fake upstream, reset to its default behaviour for this test."""
    fake_upstream.reset()
    yield fake_upstream
    fake_upstream.reset()


@pytest.fixture
def settings(upstream, tmp_path) -> Settings:
    return Settings(
        openai_api_key=SERVER_KEY,
        openai_base_url=upstream.base_url,
        upstream_timeout=TEST_TIMEOUT,
        upstream_max_retries=0,
        db_path=str(tmp_path / "sessions.sqlite3"),
    )


@pytest.fixture
def make_app(settings):
    """Build an app from the test settings with some fields changed."""

    def build(**changes):
        app = create_app(Settings(**{**settings.__dict__, **changes}))
        app.config["TESTING"] = True
        app.test_client_class = RecordingClient
        return app

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def _text_of(response) -> str:
    try:
        body = response.get_data(as_text=True)
    except Exception:  # a stream the test consumed or closed by hand
        body = ""
    return body + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


@pytest.fixture(autouse=True)
def no_secret_escapes(caplog):
    """Fail any test after which a key appears in a response body, a header or a log line."""
    caplog.set_level(logging.DEBUG)
    RecordingClient.seen = []
    yield
    texts = [_text_of(response) for response in RecordingClient.seen]
    texts += [caplog.text]
    for secret in KNOWN_SECRETS:
        for text in texts:
            assert secret not in text, "a secret escaped into a response or a log line"
