"""The official `openai` Python package, pointed at the running service, works unchanged."""

import openai
import pytest

from chatgate.models import EMBEDDING_MODELS, MODELS
from tests.support.keys import client_key
from tests.support.processes import gunicorn, service_env

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def live_server(fake_upstream, tmp_path_factory):
    with gunicorn(tmp_path_factory.mktemp("sdk"), service_env(fake_upstream.base_url)) as server:
        yield server


@pytest.fixture
def sdk(live_server, upstream):
    return live_server.openai_sdk()


def test_create(sdk, upstream):
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.usage.total_tokens > 0


def test_stream(sdk, upstream):
    with upstream.behave(reply="one two three"):
        chunks = list(sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_with_usage(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5


def test_models_list(sdk):
    names = [m.id for m in sdk.models.list()]
    assert names == [*MODELS, *EMBEDDING_MODELS]  # the chat models, then those /v1/embeddings serves
    assert sdk.models.retrieve("gpt-4o").id == "gpt-4o"
    assert sdk.models.retrieve("text-embedding-3-small").id == "text-embedding-3-small"


def test_unknown_model_is_not_found(sdk):
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="gpt-9", messages=HELLO)
    assert raised.value.code == "model_not_found"


def test_bad_parameter_is_bad_request(sdk):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=5)
    assert raised.value.param == "temperature"


def test_upstream_rate_limit_is_rate_limit_error(sdk, upstream):
    upstream.queue(status=429, retry_after="3", error_type="rate_limit_error")
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert raised.value.response.headers["retry-after"] == "3"


def test_a_rejected_client_key_is_authentication_error(live_server, upstream):
    own_key = live_server.openai_sdk(client_key("sk-invalid"))
    with pytest.raises(openai.AuthenticationError):
        own_key.chat.completions.create(model="gpt-4o", messages=HELLO)


def test_a_stream_cut_once_is_finished_for_the_sdk(sdk, upstream):
    upstream.queue(cut_after=2, reply="a b c d")
    upstream.queue(reply=" c d")
    stream = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "a b c d"


def test_a_failure_mid_stream_is_raised(sdk, upstream):
    for _ in range(3):  # the reply and both continuations STREAM_MAX_CONTINUATIONS allows are cut: it fails
        upstream.queue(cut_after=2, reply="a b c d")
    stream = sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert "cut" in raised.value.message
