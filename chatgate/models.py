"""The model catalogue: which models the service offers, the default, and per-model quirks."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app

from chatgate.config import ConfigError, Settings
from chatgate.errors import BadRequest, Forbidden, NotFound

log = logging.getLogger(__name__)

# The original Core API's seven first, in its order, then OpenAI's current chat models.
ORIGINAL_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "o1-preview", "o1-mini")
CURRENT_MODELS = (
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
)
MODELS = ORIGINAL_MODELS + CURRENT_MODELS
DEFAULT_MODEL = "gpt-4o-mini"
EMBEDDING_MODELS = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")

# What reasoning models refuse on /chat/completions (400 unsupported_parameter): only the default
# sampling is theirs. Dropped rather than refused, as the original Core API does for o1 (docs/upstreams.md lists them).
REASONING_REFUSES = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
# The Responses API takes no sampling parameters for them either.
REASONING_REFUSES_IN_RESPONSES = ("temperature", "top_p")
_KEY = "catalogue"

# MODELS=auto believes only what could be a model's name, and only so many of them.
MOST_AUTO_MODELS = 2000
SANE_MODEL_ID = re.compile(r"[^\s<>\x00-\x1f\x7f]{1,256}")
# What an upstream lists that cannot chat: embeddings (offered on /v1/embeddings instead), moderation, speech,
# images, video, realtime sessions and rerankers.
EMBEDDING_MODEL = re.compile(r"embed", re.IGNORECASE)
NOT_CHAT_MODEL = re.compile(
    r"embed|moderation|whisper|tts|transcribe|dall-e|gpt-image|sora|realtime|rerank", re.IGNORECASE
)
LISTED_IN_ERRORS = 20  # an unknown-model error names this many models, then says how many more


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model and what its upstream API accepts."""

    name: str
    accepts_system_messages: bool = True
    refuses: tuple[str, ...] = ()  # parameters it refuses, dropped before the call
    token_limit_parameter: str = "max_tokens"

    @property
    def is_plain(self) -> bool:
        return self.accepts_system_messages and not self.refuses and self.token_limit_parameter == "max_tokens"

    def adapt(self, payload: dict) -> dict:
        """Return the chat request rewritten to what this model accepts."""
        if self.is_plain:
            return payload
        payload = dict(payload)
        if not self.accepts_system_messages:
            payload["messages"] = fold_system_messages(payload.get("messages") or [])
        for name in self.refuses:
            payload.pop(name, None)
        if self.token_limit_parameter != "max_tokens" and "max_tokens" in payload:
            limit = payload.pop("max_tokens")
            payload.setdefault(self.token_limit_parameter, limit)
        return payload

    def adapt_response(self, payload: dict) -> dict:
        """Return the Responses API request rewritten to what this model accepts."""
        refused = [name for name in REASONING_REFUSES_IN_RESPONSES if name in self.refuses and name in payload]
        return {k: v for k, v in payload.items() if k not in refused} if refused else payload


def _reasoning(name: str, system_messages: bool = True) -> ModelSpec:
    return ModelSpec(
        name,
        accepts_system_messages=system_messages,
        refuses=REASONING_REFUSES,
        token_limit_parameter="max_completion_tokens",
    )


# The quirks table: every model not in it is plain. o1-preview and o1-mini also take no system or
# developer message; the later reasoning models take a developer message (a system one is read as it).
QUIRKS = {
    spec.name: spec
    for spec in (
        _reasoning("o1-preview", system_messages=False),
        _reasoning("o1-mini", system_messages=False),
        _reasoning("o1"),
        _reasoning("o3"),
        _reasoning("o3-mini"),
        _reasoning("o4-mini"),
        _reasoning("gpt-5"),
        _reasoning("gpt-5-mini"),
        _reasoning("gpt-5-nano"),
    )
}


_FAMILIES = sorted(QUIRKS, key=len, reverse=True)  # longest first: o3-mini before o3


def spec_for(name: str) -> ModelSpec:
    """A model's quirks, whether or not the catalogue offers it; dated snapshots share their family's."""
    if name in QUIRKS:
        return QUIRKS[name]
    family = next((known for known in _FAMILIES if name.startswith(known + "-20")), None)
    return dataclasses.replace(QUIRKS[family], name=name) if family else ModelSpec(name)


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
            return rest[:index] + [{**message, "content": folded_content}] + rest[index + 1 :]
    return [{"role": "user", "content": preamble}] + rest


class Catalogue:
    """The models on offer, in order, with the default; and the embedding models."""

    def __init__(
        self,
        names: tuple[str, ...] = MODELS,
        default: str = DEFAULT_MODEL,
        embedding_names: tuple[str, ...] = EMBEDDING_MODELS,
    ):
        if default not in names:
            raise ConfigError(
                f"DEFAULT_MODEL {default!r} is not in the catalogue (MODELS, or the upstreams' lists): "
                + ", ".join(names)
            )
        self.names = tuple(names)
        self.default = default
        self.embedding_names = tuple(embedding_names)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalogue:
        names = settings.models or MODELS
        default = settings.default_model or (DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
        return cls(names, default, settings.embedding_models or EMBEDDING_MODELS)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def resolve(self, name: str | None) -> str:
        """The model a request asked for, or the default when it named none; an unknown one is a 400."""
        model = name or self.default
        if model not in self.names:
            raise BadRequest(f"Model {model!r} is not available. Allowed models: {self.listed()}.", param="model")
        return model

    def listed(self) -> str:
        """The models on offer for an error message: the first few, and how many more."""
        shown = ", ".join(self.names[:LISTED_IN_ERRORS])
        more = len(self.names) - LISTED_IN_ERRORS
        return f"{shown} and {more} more (GET /models lists them all)" if more > 0 else shown


class UpstreamCatalogue:
    """MODELS=auto: the upstream's own model list (Ollama, vLLM, llama.cpp), fetched on first use and again
    every MODELS_REFRESH seconds. A failed fetch keeps the last list, or the built-in one until the first
    fetch succeeds."""

    def __init__(self, settings: Settings, fetch: Callable[[], list[str]]):
        self._settings = settings
        self._fetch = fetch
        default = settings.default_model or DEFAULT_MODEL
        self._current = Catalogue(
            tuple(dict.fromkeys((default, *MODELS))) if default not in MODELS else MODELS,
            default,
            settings.embedding_models or EMBEDDING_MODELS,
        )
        self._fetched_at: float | None = None
        self._warned_of_size = False
        self._lock = threading.Lock()

    def _fresh(self) -> Catalogue:
        now = time.monotonic()
        if self._fetched_at is not None and now - self._fetched_at < self._settings.models_refresh:
            return self._current
        with self._lock:
            if self._fetched_at is None or now - self._fetched_at >= self._settings.models_refresh:
                self._fetched_at = now  # also after a failure: the upstream is asked again next period
                try:
                    names = tuple(self._fetch())
                except Exception as error:  # an upstream that is down must not take the catalogue with it
                    log.warning(
                        "MODELS=auto: the upstream's model list could not be read (%s); keeping %d models",
                        type(error).__name__,
                        len(self._current.names),
                    )
                    return self._current
                self._current = self._from_upstream(names) or self._current
        return self._current

    def _from_upstream(self, listed: tuple[str, ...]) -> Catalogue | None:
        sane = [name for name in dict.fromkeys(listed) if isinstance(name, str) and SANE_MODEL_ID.fullmatch(name)]
        if len(sane) > MOST_AUTO_MODELS and not self._warned_of_size:
            self._warned_of_size = True
            log.warning("MODELS=auto: the upstream lists %d models; offering the first %d", len(sane), MOST_AUTO_MODELS)
        sane = sane[:MOST_AUTO_MODELS]
        names = tuple(name for name in sane if not NOT_CHAT_MODEL.search(name))
        if not names:
            return None
        embeddings = tuple(name for name in sane if EMBEDDING_MODEL.search(name))
        wanted = self._settings.default_model or DEFAULT_MODEL
        if wanted not in names:
            log.warning(
                "MODELS=auto: the default model %r is not among the upstream's %d models; using %r",
                wanted,
                len(names),
                names[0],
            )
        default = wanted if wanted in names else names[0]
        return Catalogue(names, default, self._settings.embedding_models or embeddings or EMBEDDING_MODELS)

    def refresh_if_due(self) -> Catalogue:
        """The upstream's list as last read, read again first when MODELS_REFRESH has passed."""
        return self._fresh()


def init_app(app: Flask, settings: Settings, fetch_upstream_models: Callable[[], list[str]]) -> None:
    """Give the app its catalogue: the settings' list, with MODELS=auto the upstream's, and with several
    upstreams (and no MODELS) every model one of them serves."""
    if _asks_upstreams(settings):
        app.extensions[_KEY] = UpstreamCatalogue(settings, fetch_upstream_models)
    else:
        app.extensions[_KEY] = _settled_catalogue(settings)


def check_catalogue(settings: Settings) -> None:
    """Raise the ConfigError the catalogue would (a default model it lacks), before any worker starts."""
    if not _asks_upstreams(settings):
        _settled_catalogue(settings)


def _asks_upstreams(settings: Settings) -> bool:
    return settings.models_auto or (
        settings.models is None and any(upstream.models_auto for upstream in settings.upstreams)
    )


def _settled_catalogue(settings: Settings) -> Catalogue:
    """The catalogue the settings fix: MODELS, else every model the upstreams file names, else the built-in one."""
    if settings.upstreams and settings.models is None:
        served = dict.fromkeys(name for upstream in settings.upstreams for name in upstream.models or ())
        names = tuple(name for name in served if not NOT_CHAT_MODEL.search(name))
        embeddings = tuple(name for name in served if EMBEDDING_MODEL.search(name))
        default = settings.default_model or (DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
        return Catalogue(names, default, settings.embedding_models or embeddings or EMBEDDING_MODELS)
    return Catalogue.from_settings(settings)


def catalogue() -> Catalogue:
    """The current app's catalogue; with MODELS=auto, refreshed here when it is due, never inside a lookup."""
    offered = current_app.extensions[_KEY]
    return offered.refresh_if_due() if isinstance(offered, UpstreamCatalogue) else offered


def offered_model(name: str | None, surface: str = "core") -> str:
    """The model a request may use on `surface`, decided here for every surface, in each one's words:

    - "core" (the core, sessions and simple surfaces): None is the default model; an unknown one is a 400
      that lists the catalogue;
    - "openai": an unknown one is OpenAI's own 404, word for word, so SDKs raise NotFoundError;
    - "embeddings": the same 404, against the embedding models.
    """
    offered = catalogue()
    if surface == "core":
        return offered.resolve(name)
    names = offered.embedding_names if surface == "embeddings" else offered.names
    if name not in names:
        raise NotFound(
            f"The model `{name}` does not exist or you do not have access to it.",
            code="model_not_found",
            type="invalid_request_error",
        )
    return name


def check_allowed(model: str, allowed: tuple[str, ...] | None, holder: str) -> None:
    """Refuse (403) a model outside what a stored token named `holder` was given; None allows every model."""
    if allowed and model not in allowed:
        raise Forbidden(
            f"The token {holder!r} may use only these models: {', '.join(allowed)}.",
            code="model_not_allowed",
            param="model",
        )
