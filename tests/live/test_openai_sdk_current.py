"""Today's calls of the official `openai` Python package, against gunicorn: the Responses API, embeddings,
current models, and a 429 that costs one upstream call."""

import threading

import openai
import pytest

from tests.support.processes import gunicorn, service_env

HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module")
def live_server(fake_upstream, tmp_path_factory):
    env = service_env(fake_upstream.base_url)
    del env["UPSTREAM_MAX_RETRIES"]  # the service's own default: it must not retry a 429 either
    with gunicorn(tmp_path_factory.mktemp("sdk-current"), env) as server:
        yield server


@pytest.fixture
def sdk(live_server, upstream):
    return live_server.openai_sdk()


def test_responses_create_and_retrieve(sdk, upstream):
    response = sdk.responses.create(model="gpt-4.1-mini", input="Say hello", instructions="Be brief.")
    assert response.output_text == "Hello from the fake upstream."
    assert response.usage.input_tokens == 4 and response.usage.output_tokens == 5
    again = sdk.responses.retrieve(response.id)
    assert again.id == response.id and again.output_text == response.output_text


def test_responses_stream_event_by_event(sdk, upstream):
    release = threading.Event()
    with upstream.behave(reply="one two three", wait_for=release):
        stream = sdk.responses.create(model="gpt-4o", input="Count", stream=True)
        seen = []
        for event in stream:
            seen.append(event)
            if event.type == "response.content_part.added":
                release.set()  # every event so far came through while the reply was still held upstream
    assert release.is_set()
    deltas = [e.delta for e in seen if e.type == "response.output_text.delta"]
    assert deltas == ["one", " two", " three"]
    assert seen[0].type == "response.created" and seen[-1].type == "response.completed"
    assert seen[-1].response.output_text == "one two three"


def test_embeddings_create(sdk, upstream):
    result = sdk.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"], dimensions=6)
    assert [len(item.embedding) for item in result.data] == [6, 6]
    assert all(isinstance(x, float) for x in result.data[0].embedding)  # the SDK asked for base64 and decoded it
    assert result.usage.total_tokens == 3


@pytest.mark.parametrize(
    "model, cap",
    [
        ("gpt-4.1", "max_tokens"),
        ("gpt-4.1-nano", "max_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("o4-mini", "max_completion_tokens"),
        ("gpt-5-mini", "max_completion_tokens"),
    ],
)
def test_chat_completions_on_current_models(sdk, upstream, model, cap):
    completion = sdk.chat.completions.create(model=model, messages=HELLO, max_tokens=20)
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert upstream.last_chat_body()[cap] == 20


def test_a_429_reaches_the_sdk_after_one_upstream_call(sdk, upstream):
    upstream.queue(status=429, retry_after="2", error_type="rate_limit_error")
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert raised.value.response.headers["retry-after"] == "2"
    assert len(upstream.chat_requests()) == 1
