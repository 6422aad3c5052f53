"""The catalogue and the quirks table: what each model takes, and MODELS=auto."""

import pytest

from chatgate.config import ConfigError, Settings
from chatgate.models import (
    CURRENT_MODELS,
    DEFAULT_MODEL,
    MODELS,
    ORIGINAL_MODELS,
    Catalogue,
    UpstreamCatalogue,
    fold_system_messages,
    spec_for,
)

FULL = {
    "model": "m",
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
    "temperature": 0.3,
    "top_p": 0.9,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.2,
    "logprobs": True,
    "top_logprobs": 2,
    "logit_bias": {"1": 1},
    "max_tokens": 50,
    "stop": ["x"],
    "seed": 7,
}
SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias")

# model -> (keeps the system message, keeps sampling, sends the cap as)
QUIRKS = [
    ("gpt-4o", True, True, "max_tokens"),
    ("gpt-4.1", True, True, "max_tokens"),
    ("gpt-4.1-nano", True, True, "max_tokens"),
    ("o1-preview", False, False, "max_completion_tokens"),
    ("o1-mini", False, False, "max_completion_tokens"),
    ("o1", True, False, "max_completion_tokens"),
    ("o3", True, False, "max_completion_tokens"),
    ("o3-mini", True, False, "max_completion_tokens"),
    ("o4-mini", True, False, "max_completion_tokens"),
    ("gpt-5", True, False, "max_completion_tokens"),
    ("gpt-5-mini", True, False, "max_completion_tokens"),
    ("gpt-5-nano-2025-08-07", True, False, "max_completion_tokens"),  # a dated snapshot has its family's quirks
    ("llama3:8b", True, True, "max_tokens"),  # anything unknown is sent as it is
]


@pytest.mark.parametrize("model, system, sampling, cap", QUIRKS)
def test_the_quirks_table(model, system, sampling, cap):
    sent = spec_for(model).adapt({**FULL, "model": model})
    assert (sent["messages"][0]["role"] == "system") is system
    assert all((name in sent) is sampling for name in SAMPLING)
    assert sent[cap] == 50 and ("max_tokens" in sent) is (cap == "max_tokens")
    assert sent["stop"] == ["x"] and sent["seed"] == 7


@pytest.mark.parametrize("model, system, sampling, cap", QUIRKS)
def test_the_responses_api_drops_sampling_for_reasoning_models(model, system, sampling, cap):
    sent = spec_for(model).adapt_response(
        {"model": model, "input": "hi", "temperature": 0.2, "top_p": 0.5, "max_output_tokens": 9}
    )
    assert ("temperature" in sent and "top_p" in sent) is sampling and sent["max_output_tokens"] == 9


def test_the_catalogue_is_the_original_seven_then_the_current_models():
    assert MODELS[:7] == ("gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "o1-preview", "o1-mini")
    assert MODELS == ORIGINAL_MODELS + CURRENT_MODELS and DEFAULT_MODEL == "gpt-4o-mini"
    assert {"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "o4-mini", "gpt-5"} <= set(MODELS)


def test_upstream_catalogue_follows_the_upstream_and_survives_its_failures(caplog):
    answers = [["llama3", "qwen2"], RuntimeError("down"), ["qwen2", "mistral"]]

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    upstream_list = UpstreamCatalogue(Settings(models_auto=True, models_refresh=0), fetch)  # every use refreshes
    assert upstream_list.refresh_if_due().names == ("llama3", "qwen2")
    assert "default model 'gpt-4o-mini' is not among" in caplog.text
    assert upstream_list.refresh_if_due().names == ("llama3", "qwen2")  # the failed fetch keeps the last list
    # The third list; its first model, as the default is not in it.
    assert upstream_list.refresh_if_due().default == "qwen2"
    assert "mistral" in upstream_list.refresh_if_due()  # a fourth fetch fails too: the list stays


def test_upstream_catalogue_waits_for_its_refresh_period():
    calls = []
    upstream_list = UpstreamCatalogue(
        Settings(models_auto=True, models_refresh=3600, default_model="b"), lambda: calls.append(1) or ["a", "b"]
    )
    assert upstream_list.refresh_if_due().default == "b" and upstream_list.refresh_if_due().names == ("a", "b")
    assert len(calls) == 1


def test_folding_moves_instructions_into_the_first_user_turn():
    messages = [
        {"role": "user", "content": "Q1"},
        {"role": "system", "content": "S"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert fold_system_messages(messages) == [
        {"role": "user", "content": "S\n\nQ1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert fold_system_messages([{"role": "developer", "content": "D"}]) == [{"role": "user", "content": "D"}]
    plain = [{"role": "user", "content": "x"}]
    assert fold_system_messages(plain) is plain


def test_plain_models_pass_their_payload_untouched():
    payload = {"model": "gpt-4o", "messages": [{"role": "system", "content": "S"}], "temperature": 1}
    assert spec_for("gpt-4o").adapt(payload) is payload


def test_explicit_max_completion_tokens_wins_over_max_tokens():
    adapted = spec_for("o1-mini").adapt({"messages": [], "max_tokens": 5, "max_completion_tokens": 9})
    assert adapted == {"messages": [], "max_completion_tokens": 9}


def test_a_default_outside_the_catalogue_is_a_config_error():
    with pytest.raises(ConfigError, match="not in the catalogue"):
        Catalogue.from_settings(Settings(models=("a", "b"), default_model="c"))
    assert Catalogue.from_settings(Settings(models=("a", "b"))).default == "a"


def test_a_default_outside_a_fixed_catalogue_is_a_config_error():
    with pytest.raises(ConfigError, match="not in the catalogue"):
        Catalogue.from_settings(Settings(models=("a", "b"), default_model="c"))
