"""GET /info (OpenAI-compatible): what the service is and how it is set up, never a secret."""

from tests.support.keys import SERVER_KEY, secret
from tests.support.upstreams_file import KEY_A, table


def test_info_describes_the_service(client, upstream):
    info = client.get("/info").get_json()
    assert info["name"] == "OpenAI Chat API"
    assert info["default_model"] == "gpt-4o-mini"
    assert info["models"] == client.get("/models").get_json()["models"]
    assert info["upstream"] == {"host": "127.0.0.1", "is_openai": False, "key_configured": True}
    assert info["cors"] == {"allow_origins": ["*"]}
    assert info["features"]["access_control"] is False and info["features"]["session_store"] == "sqlite"
    assert set(info["theme"]) >= {"primary", "background", "text"}
    assert upstream.requests == []


def test_info_shows_the_host_only_and_no_secret(make_app):
    token = secret("tok-info-" + "x" * 30)
    password = secret("pa55word-in-the-url")
    app = make_app(
        openai_base_url=f"https://user:{password}@llm.internal:8443/v1",
        api_tokens=(token,),
        rate_limit="5/minute",
        allow_origins=("http://localhost:3000",),
    )
    response = app.test_client().get("/info", headers={"X-API-Key": token})
    info = response.get_json()
    assert info["upstream"]["host"] == "llm.internal"
    assert info["features"]["access_control"] is True and info["features"]["rate_limit"] == "5/minute"
    assert info["cors"]["allow_origins"] == ["http://localhost:3000"]
    text = response.get_data(as_text=True)
    assert SERVER_KEY not in text and password not in text and token not in text


def test_info_is_listed_on_the_index(client):
    assert "GET /info" in client.get("/").get_json()["endpoints"]


def test_with_an_upstreams_file_info_names_each_upstream_and_the_start_says_what_is_true(serve, a, caplog):
    caplog.clear()
    client = serve(
        table("openai-1", a.base_url, "KEY_A"),
        '[[upstreams]]\nname = "ollama"\nbase_url = "http://ollama.internal:11434/v1"\nmodels = ["llama3:8b"]\n',
    )
    said = caplog.text
    assert "API_TOKENS is not set: anyone who can reach this service can spend" in said
    assert "No upstream key" not in said
    response = client.get("/info")
    info = response.get_json()
    assert info["upstreams"] == [
        {"name": "openai-1", "kind": "openai", "host": "127.0.0.1"},
        {"name": "ollama", "kind": "openai", "host": "ollama.internal"},
    ]
    assert info["upstream"] == {"host": "127.0.0.1", "is_openai": False, "key_configured": True}
    assert KEY_A not in response.get_data(as_text=True)
