"""Which upstream key a request uses: the one rule, in one place."""

from __future__ import annotations

import re
from typing import cast

from flask import Flask, current_app, request

from chatgate.config import Settings
from chatgate.errors import BadRequest
from chatgate.guard.access import TokenRegistry, bearer_value

# Every key shape OpenAI issues: project (sk-proj-), service account (sk-svcacct-),
# admin (sk-admin-) and the older user keys (sk-...).
_OPENAI_KEY = re.compile(r"^sk-(proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}$")
# Whatever the upstream, a key travels in an HTTP header: visible ASCII only.
_SENDABLE = re.compile(r"^[\x21-\x7e]+$")
_KEY = "credentials"

KEY_FORMAT_HELP = (
    "The key should start with 'sk-' (for example 'sk-proj-...') and contain only letters, "
    "numbers, hyphens and underscores."
)


def looks_like_openai_key(value: str) -> bool:
    """Whether `value` has the shape of a real OpenAI API key."""
    return bool(_OPENAI_KEY.match(value))


class Credentials:
    """The key choice: the caller's own key when it sent one and client keys are allowed, else the server's."""

    def __init__(self, settings: Settings, tokens: TokenRegistry):
        self.settings = settings
        self.tokens = tokens

    def check_format(self, key: str) -> None:
        """Refuse a malformed client key, by default only when the upstream is OpenAI's own API.

        vLLM, Ollama and llama.cpp take any key, so a key for them is passed on as it is
        (CLIENT_KEY_FORMAT=openai or any overrides the guess).
        """
        if not _SENDABLE.match(key) or (self.settings.checks_client_key_format and not looks_like_openai_key(key)):
            raise BadRequest(f"Invalid API Key format. {KEY_FORMAT_HELP}", param="api_key")

    def client_key(self, body_key: str | None = None) -> str | None:
        """The caller's own OpenAI key, if it sent one: in the body, in `X-OpenAI-Key`, or as `Bearer sk-...`.

        A Bearer value that is one of our service tokens is never taken for a client key.
        """
        if body_key:
            return body_key
        if header_key := request.headers.get("X-OpenAI-Key", "").strip():
            return header_key
        bearer = bearer_value()
        if bearer and bearer.startswith("sk-") and not self.tokens.is_token(bearer):
            return bearer
        return None

    def upstream_key(self, body_key: str | None = None) -> str | None:
        """The upstream key for the current request (None: the server key). Every surface asks this."""
        key = self.client_key(body_key)
        if not (key and self.settings.allow_client_keys):
            return None
        self.check_format(key)
        return key


def init_app(app: Flask, settings: Settings, tokens: TokenRegistry) -> Credentials:
    """Give the app its key choice, which must tell service tokens from client keys."""
    chosen = app.extensions[_KEY] = Credentials(settings, tokens)
    return chosen


def credentials() -> Credentials:
    """The current app's key choice."""
    return cast(Credentials, current_app.extensions[_KEY])
