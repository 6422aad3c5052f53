"""Fixtures for several upstreams: three fake upstreams for a module, and apps served from an UPSTREAMS_FILE."""

import pytest

from chatgate.app import create_app
from chatgate.config import Settings
from tests.conftest import RecordingClient
from tests.support.fake_upstream import FakeUpstream
from tests.support.upstreams_file import KEY_A, KEY_AZURE, KEY_B


@pytest.fixture(scope="module")
def fakes():
    started = [FakeUpstream().start() for _ in range(3)]
    yield started
    for fake in started:
        fake.stop()


@pytest.fixture
def a(fakes):
    fakes[0].reset()
    return fakes[0]


@pytest.fixture
def b(fakes):
    fakes[1].reset()
    return fakes[1]


@pytest.fixture
def azure(fakes):
    fakes[2].reset()
    return fakes[2]


@pytest.fixture
def serve(tmp_path):
    """An app whose upstreams come from a file of these tables (and fallbacks)."""

    def build(*tables: str, fallbacks: str = "", **environment: str):
        path = tmp_path / "upstreams.toml"
        path.write_text("\n".join(tables) + ("\n[fallbacks]\n" + fallbacks if fallbacks else ""))
        env = {
            "UPSTREAMS_FILE": str(path),
            "KEY_A": KEY_A,
            "KEY_B": KEY_B,
            "KEY_AZURE": KEY_AZURE,
            "DB_PATH": str(tmp_path / "store.sqlite3"),
            "UPSTREAM_TIMEOUT": "2",
            "UPSTREAM_MAX_RETRIES": "1",
            **environment,
        }
        app = create_app(Settings.from_env(env))
        app.config["TESTING"] = True
        app.test_client_class = RecordingClient
        return app.test_client()

    return build
