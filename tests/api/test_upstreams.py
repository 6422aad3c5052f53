"""Several upstreams (UPSTREAMS_FILE): spread by weight, keys per upstream, failover before the first byte, rest
after a 429 or failures, fallback models, Azure OpenAI's wire, client keys kept where they may go."""

import threading

import pytest

from chatgate.config import ConfigError, Settings
from tests.support.keys import client_key
from tests.support.servers import ROOT, free_port
from tests.support.upstreams_file import HELLO, KEY_A, KEY_AZURE, KEY_B, chat, table


def test_calls_spread_by_weight_and_each_upstream_gets_only_its_own_key(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=3), table("b", b.base_url, "KEY_B"))
    assert all(chat(client).status_code == 200 for _ in range(200))
    to_a, to_b = len(a.chat_requests()), len(b.chat_requests())
    assert to_a + to_b == 200 and 1.6 < to_a / to_b < 6  # 3:1, give or take chance (wide: no flake)
    assert {r.headers["Authorization"] for r in a.chat_requests()} == {f"Bearer {KEY_A}"}
    assert {r.headers["Authorization"] for r in b.chat_requests()} == {f"Bearer {KEY_B}"}


@pytest.mark.parametrize("fault", [dict(status=500), dict(status=503), dict(garbage=False, status=502)])
def test_a_failure_before_the_first_byte_moves_the_call_and_three_failed_calls_rest_the_upstream(serve, a, b, fault):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    with a.behave(**fault):
        assert chat(client).status_code == 200  # a failed, b answered
        assert len(a.chat_requests()) == 1 and len(b.chat_requests()) == 1
        assert client.get("/health/ready").get_json()["upstreams"]["a"] == "ok"  # one call's failure rests nothing
        assert all(chat(client).status_code == 200 for _ in range(7))
    assert len(a.chat_requests()) == 3  # the third failed call rested it: not chosen again
    ready = client.get("/health/ready").get_json()
    assert ready["upstreams"]["a"].startswith("resting until") and ready["upstreams"]["b"] == "ok"


def test_an_unreachable_upstream_is_passed_over(serve, b):
    client = serve(
        table("gone", f"http://127.0.0.1:{free_port()}/v1", "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B")
    )
    assert chat(client).status_code == 200 and len(b.chat_requests()) == 1


def test_a_429_rests_its_upstream_for_its_retry_after(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    a.queue(status=429, retry_after="30")
    assert [chat(client).status_code for _ in range(6)] == [200] * 6
    assert len(a.chat_requests()) == 1 and len(b.chat_requests()) == 6


def test_a_stream_fails_over_before_its_first_byte_and_is_never_replayed_after(serve, a, b):
    tables = (table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    client = serve(*tables, STREAM_CONTINUATION="off")  # today's end, without continuation
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
    a.queue(status=500)
    before = client.post("/v1/chat/completions", json=body)
    assert before.status_code == 200 and before.get_data().endswith(b"data: [DONE]\n\n")
    assert (len(a.chat_requests()), len(b.chat_requests())) == (1, 1)
    tables = (table("a2", a.base_url, "KEY_A", weight=1_000_000), table("b2", b.base_url, "KEY_B"))
    client = serve(*tables, STREAM_CONTINUATION="off")
    a.queue(cut_after=2, reply="one two three four")
    after = client.post("/v1/chat/completions", json=body).get_data()
    assert b'"error"' in after and b"[DONE]" not in after  # the documented mid-stream error
    assert (len(a.chat_requests()), len(b.chat_requests())) == (2, 1)  # b was never asked to replay it


def test_a_timeout_is_not_replayed_unless_its_upstream_says_so(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))
    a.queue(delay=3)
    assert chat(client).status_code == 504 and len(b.chat_requests()) == 0  # a may still be working, and billing
    client = serve(
        table("a2", a.base_url, "KEY_A", weight=1_000_000, failover_on_timeout=True), table("b2", b.base_url, "KEY_B")
    )
    a.queue(delay=3)
    assert chat(client).status_code == 200  # a had half of the 2 s, b the rest
    assert (len(a.chat_requests()), len(b.chat_requests())) == (2, 1)


def test_azure_gets_its_deployment_path_api_version_and_api_key(serve, azure):
    base = azure.base_url.removesuffix("/v1")
    client = serve(
        '[[upstreams]]\nname = "azure-eu"\nkind = "azure"\n'
        f'base_url = "{base}"\napi_version = "2024-10-21"\napi_key_env = "KEY_AZURE"\n'
        'models = ["gpt-4.1-mini"]\ndeployments = { "gpt-4.1-mini" = "my-41-mini" }\n'
    )
    assert chat(client, "gpt-4.1-mini").status_code == 200
    streamed = client.post("/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HELLO, "stream": True})
    assert streamed.get_data().endswith(b"data: [DONE]\n\n")
    for sent in azure.chat_requests():
        assert sent.path == "/openai/deployments/my-41-mini/chat/completions?api-version=2024-10-21"
        assert sent.headers["api-key"] == KEY_AZURE and "Authorization" not in sent.headers


def test_a_fallback_model_serves_when_every_upstream_of_the_model_fails(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"]),
        fallbacks='"gpt-4o" = ["gpt-4o-mini"]\n',
        UPSTREAM_FAILURES_TO_REST="1",
    )
    a.queue(status=500)
    a.queue(status=500)
    answer = chat(client, "gpt-4o")
    assert answer.status_code == 200 and answer.headers["X-Fallback-Model"] == "gpt-4o-mini"
    assert answer.get_json()["model"] == "gpt-4o-mini" and b.last_chat_body()["model"] == "gpt-4o-mini"
    core = client.post("/chat", json={"message": "hi", "model": "gpt-4o"})  # a rests now: straight to the fallback
    assert core.get_json()["model"] == "gpt-4o-mini" and len(a.chat_requests()) == 2


def test_all_down_is_a_clear_error_in_each_surfaces_shape_naming_no_url_or_key(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A"), table("b", b.base_url, "KEY_B"), UPSTREAM_FAILURES_TO_REST="1")
    with a.behave(status=500), b.behave(status=500):
        failed = chat(client)  # each tried once, and both failed
        resting = [chat(client), client.post("/chat", json={"message": "hi"})]  # both rest now: asked of neither
    assert failed.status_code == 502 and failed.get_json()["error"]["message"].startswith("The upstream failed")
    assert [r.status_code for r in resting] == [503, 503]
    assert "resting" in resting[0].get_json()["error"]["message"] and "resting" in resting[1].get_json()["error"]
    assert len(a.chat_requests()) + len(b.chat_requests()) == 2
    for response in (failed, *resting):
        text = response.get_data(as_text=True)
        assert "127.0.0.1" not in text and KEY_A not in text and KEY_B not in text
    assert client.get("/health/ready").status_code == 503


def test_a_callers_own_key_goes_only_to_upstreams_that_take_one(serve, a, b):
    own = client_key()
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["gpt-4o-mini"], client_keys=True),
    )
    refused = chat(client, "gpt-4o", **{"X-OpenAI-Key": own})
    assert refused.status_code == 400 and "your own API key" in refused.get_json()["error"]["message"]
    assert chat(client, "gpt-4o-mini", **{"X-OpenAI-Key": own}).status_code == 200
    assert b.chat_requests()[-1].headers["Authorization"] == f"Bearer {own}"
    assert all(own not in str(r.headers) for r in a.requests)


def test_the_model_lists_are_every_upstreams(serve, a, b):
    client = serve(
        table("a", a.base_url, "KEY_A", models=["gpt-4o"]),
        table("b", b.base_url, "KEY_B", models=["llama3:8b", "nomic-embed-text"]),
    )
    listed = [m["id"] for m in client.get("/v1/models").get_json()["data"]]
    assert listed == ["gpt-4o", "llama3:8b", "nomic-embed-text"]  # the chat models, then the embedding ones
    assert client.get("/models").get_json()["models"] == ["gpt-4o", "llama3:8b"]
    assert client.post("/v1/embeddings", json={"model": "nomic-embed-text", "input": "x"}).status_code == 200
    assert len(b.requests_to("POST", "/embeddings")) == 1 and not a.requests_to("POST", "/embeddings")


def test_a_single_upstream_setting_keeps_working_as_before(make_app, upstream):
    client = make_app(upstream_max_retries=1).test_client()
    upstream.queue(status=429, retry_after="7")
    assert chat(client).status_code == 429  # passed on, not rested or retried
    assert chat(client).status_code == 200 and len(upstream.chat_requests()) == 2


@pytest.mark.parametrize(
    "text, named",
    [
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\napi_key_env = "NOT_SET_ANYWHERE"\n', "NOT_SET_ANYWHERE"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\nkind = "bedrock"\n', "kind"),
        ('[[upstreams]]\nname = "x"\n', "models"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\nweight = 0\n', "weight"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\nkind = "azure"\n', "base_url"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\nsurprise = 1\n', "surprise"),
        ("[[upstreams]\n", "UPSTREAMS_FILE"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\n[models."m"]\ncache = "no"\n', "cache"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\n[models."m"]\ncolour = 1\n', "colour"),
        ('[[upstreams]]\nname = "x"\nmodels = ["m"]\n[models]\nm = 1\n', "[models"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_the_table_and_the_field(tmp_path, text, named):
    path = tmp_path / "upstreams.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"UPSTREAMS_FILE": str(path)})
    assert str(path) in str(error.value) and named in str(error.value) and "\n" not in str(error.value)


def test_a_burst_while_one_upstream_fails_loses_no_call(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A"), table("b", b.base_url, "KEY_B"))
    results = []
    with a.behave(status=503):
        threads = [threading.Thread(target=lambda: results.append(chat(client).status_code)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200] * 20


def test_the_readmes_example_file_is_read_as_it_says(tmp_path):
    readme = (ROOT / "docs" / "upstreams.md").read_text()
    example = readme.split("## Several upstreams", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "upstreams.toml"
    path.write_text(example)
    keys = {"OPENAI_KEY_1": "k1", "OPENAI_KEY_2": "k2", "AZURE_OPENAI_KEY": "k3"}
    settings = Settings.from_env({"UPSTREAMS_FILE": str(path), **keys})
    by_name = {u.name: u for u in settings.upstreams}
    assert list(by_name) == ["openai-1", "openai-2", "azure-eu", "ollama"]
    assert by_name["openai-1"].weight == 2 and by_name["openai-1"].api_key == "k1"
    assert by_name["azure-eu"].deployment("gpt-4.1-mini") == "my-41-mini" and by_name["ollama"].api_key is None
    assert dict(settings.fallbacks) == {"gpt-4o": ("gpt-4o-mini",)}
    assert settings.uncached_models == ("gpt-4.1-mini",)


def test_metrics_count_attempts_per_upstream(serve, a, b):
    client = serve(table("a", a.base_url, "KEY_A", weight=1_000_000), table("b", b.base_url, "KEY_B"))

    def attempts(upstream: str, outcome: str) -> float:  # the counters live for the whole test process
        line = f'chat_api_upstream_attempts_total{{outcome="{outcome}",upstream="{upstream}"}} '
        found = [row for row in client.get("/metrics").get_data(as_text=True).splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before = attempts("a", "server_error"), attempts("b", "ok")
    a.queue(status=500)
    assert chat(client).status_code == 200
    assert (attempts("a", "server_error"), attempts("b", "ok")) == (before[0] + 1, before[1] + 1)
