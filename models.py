"""The model catalogue: which models the service offers, the default, and per-model quirks."""

from __future__ import annotations

import dataclasses

from config import ConfigError, Settings
from errors import BadRequest

MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "o1-preview", "o1-mini")
DEFAULT_MODEL = "gpt-4o-mini"

SAMPLING_PARAMETERS = ("temperature", "top_p")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model and what its upstream API accepts."""

    name: str
    accepts_system_messages: bool = True
    accepts_sampling: bool = True
    token_limit_parameter: str = "max_tokens"

    def adapt(self, payload: dict) -> dict:
        """Return the chat request rewritten to what this model accepts."""
        if self.accepts_system_messages and self.accepts_sampling and self.token_limit_parameter == "max_tokens":
            return payload
        payload = dict(payload)
        if not self.accepts_system_messages:
            payload["messages"] = fold_system_messages(payload.get("messages") or [])
        if not self.accepts_sampling:
            for name in SAMPLING_PARAMETERS:
                payload.pop(name, None)
        if self.token_limit_parameter != "max_tokens" and "max_tokens" in payload:
            limit = payload.pop("max_tokens")
            payload.setdefault(self.token_limit_parameter, limit)
        return payload


def _reasoning_model(name: str) -> ModelSpec:
    return ModelSpec(name, accepts_system_messages=False, accepts_sampling=False,
                     token_limit_parameter="max_completion_tokens")


QUIRKS = {spec.name: spec for spec in (_reasoning_model("o1-preview"), _reasoning_model("o1-mini"))}


def _text_of(content) -> str:
    """The text of a message's content: a string, or OpenAI's list of content parts."""
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def fold_system_messages(messages: list[dict]) -> list[dict]:
    """Move system and developer messages into the first user turn, for models that refuse them."""
    instructions = [_text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    if not instructions:
        return messages
    preamble = "\n\n".join(instructions)
    for index, message in enumerate(rest):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                folded_content = [{"type": "text", "text": preamble}] + content
            else:
                folded_content = f"{preamble}\n\n{_text_of(content)}"
            return rest[:index] + [{**message, "content": folded_content}] + rest[index + 1:]
    return [{"role": "user", "content": preamble}] + rest


class Catalogue:
    """The models on offer, in order, with the default and each one's quirks."""

    def __init__(self, names: tuple[str, ...] = MODELS, default: str = DEFAULT_MODEL):
        if default not in names:
            raise ConfigError(f"The default model {default!r} is not in the catalogue: {', '.join(names)}")
        self.names = tuple(names)
        self.default = default
        self._specs = {name: QUIRKS.get(name, ModelSpec(name)) for name in names}

    @classmethod
    def from_settings(cls, settings: Settings) -> "Catalogue":
        names = settings.models or MODELS
        default = settings.default_model or (DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
        return cls(names, default)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def spec(self, name: str) -> ModelSpec:
        return self._specs[name]

    def resolve(self, name: str | None) -> str:
        """The model a request asked for, or the default when it named none; an unknown one is a 400."""
        model = name or self.default
        if model not in self._specs:
            raise BadRequest(f"Model {model!r} is not available. Allowed models: {', '.join(self.names)}.",
                             param="model")
        return model
