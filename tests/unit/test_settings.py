"""Settings from the environment: every variable and alias, defaults, errors that name the variable."""

import pytest

from chatgate.config import VARIABLES, ConfigError, Settings
from tests.support.servers import ROOT


def test_settings_read_every_variable_and_alias():
    settings = Settings.from_env(
        {
            "OPENAI_API_KEY": "sk-fallback",
            "OPENAI_API_BASE": "http://localhost:11434/v1",
            "OPENAI_MODEL": "llama3",
            "MODELS": "llama3, qwen2",
            "ALLOWED_ORIGIN": "http://a.example,http://b.example",
            "UPSTREAM_TIMEOUT": "30",
            "MAX_REQUEST_BYTES": "2048",
            "LOG_FORMAT": "JSON",
            "ALLOW_CLIENT_KEYS": "off",
        }
    )
    assert settings.openai_api_key == "sk-fallback"
    assert settings.openai_base_url == "http://localhost:11434/v1"
    assert not settings.upstream_is_openai
    assert (settings.models, settings.default_model) == (("llama3", "qwen2"), "llama3")
    assert settings.allow_origins == ("http://a.example", "http://b.example")
    assert (settings.upstream_timeout, settings.max_request_bytes) == (30.0, 2048)
    assert settings.log_format == "json"
    assert settings.allow_client_keys is False


def test_the_cyb_sec_key_wins_and_defaults_hold():
    settings = Settings.from_env(
        {
            "OPENAI_API_KEY_CYB_SEC": "sk-primary",
            "OPENAI_API_KEY": "sk-fallback",
            "OPENAI_BASE_URL": "http://vllm:8000/v1",
            "OPENAI_API_BASE": "http://other/v1",
        }
    )
    assert settings.openai_api_key == "sk-primary"
    assert settings.openai_base_url == "http://vllm:8000/v1"
    assert settings.upstream_timeout == 120.0
    assert settings.max_request_bytes == 10 * 1024 * 1024
    assert settings.allow_origins == ("*",)
    assert Settings.from_env({}).upstream_is_openai


def test_api_tokens_come_from_the_list_and_the_file(tmp_path):
    token_file = tmp_path / "tokens"
    token_file.write_text("# service tokens\ntok-file-1\n\ntok-file-2\n")
    settings = Settings.from_env({"API_TOKENS": "tok-a, tok-b", "API_TOKENS_FILE": str(token_file)})
    assert settings.api_tokens == ("tok-a", "tok-b", "tok-file-1", "tok-file-2")
    assert settings.access_control


@pytest.mark.parametrize(
    "env, message",
    [
        ({"UPSTREAM_TIMEOUT": "soon"}, "UPSTREAM_TIMEOUT must be a number, not 'soon'"),
        ({"PORT": "abc"}, "PORT must be a whole number, not 'abc'"),
        ({"PORT": "-1"}, "PORT must not be negative"),
        ({"ALLOW_CLIENT_KEYS": "maybe"}, "ALLOW_CLIENT_KEYS must be true or false"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json"),
        ({"JWT_FETCH_TIMEOUT": "0"}, "JWT_FETCH_TIMEOUT must be more than 0"),
    ],
)
def test_bad_settings_fail_at_start_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_env_example_lists_every_variable_the_service_reads():
    listed = (ROOT / ".env.example").read_text()
    assert [name for name in VARIABLES if f"{name}=" not in listed] == []


def test_db_path_is_read_under_its_new_name_and_its_old_one():
    assert Settings.from_env({"DB_PATH": "/data/a.sqlite3"}, dotenv=False).db_path == "/data/a.sqlite3"
    assert Settings.from_env({"SESSION_DB_PATH": "/data/b.sqlite3"}, dotenv=False).db_path == "/data/b.sqlite3"
    both = {"DB_PATH": "/data/new.sqlite3", "SESSION_DB_PATH": "/data/old.sqlite3"}
    assert Settings.from_env(both, dotenv=False).db_path == "/data/new.sqlite3"
