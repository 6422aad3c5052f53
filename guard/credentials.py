"""Which upstream key a request uses: the one rule, in one place."""

from __future__ import annotations

import re

from flask import current_app, request

from errors import BadRequest

# Every key shape OpenAI issues: project (sk-proj-), service account (sk-svcacct-),
# admin (sk-admin-) and the older user keys (sk-...).
_OPENAI_KEY = re.compile(r"^sk-(proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}$")

KEY_FORMAT_HELP = ("The key should start with 'sk-' (for example 'sk-proj-...') and contain only letters, "
                   "numbers, hyphens and underscores.")


def looks_like_openai_key(value: str) -> bool:
    """Whether `value` has the shape of a real OpenAI API key."""
    return bool(_OPENAI_KEY.match(value))


# Whatever the upstream, a key travels in an HTTP header: visible ASCII only.
_SENDABLE = re.compile(r"^[\x21-\x7e]+$")


def check_key_format(key: str) -> None:
    """Refuse a malformed client key, by default only when the upstream is OpenAI's own API.

    vLLM, Ollama and llama.cpp take any key, so a key for them is passed on as it is
    (CLIENT_KEY_FORMAT=openai or any overrides the guess).
    """
    settings = current_app.extensions["settings"]
    if not _SENDABLE.match(key) or (settings.checks_client_key_format and not looks_like_openai_key(key)):
        raise BadRequest(f"Invalid API Key format. {KEY_FORMAT_HELP}", param="api_key")


def upstream_key_for(client_key: str | None) -> str | None:
    """The key to send upstream: the caller's own key when allowed, else None for the server key."""
    settings = current_app.extensions["settings"]
    if client_key and settings.allow_client_keys:
        return client_key
    return None


def client_key_from_request(body_key: str | None = None) -> str | None:
    """The caller's own OpenAI key, if it sent one: in the body, in `X-OpenAI-Key`, or as `Bearer sk-...`.

    A Bearer value that is one of our service tokens is never taken for a client key.
    """
    if body_key:
        return body_key
    if header_key := request.headers.get("X-OpenAI-Key", "").strip():
        return header_key
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value.startswith("sk-"):
        if not current_app.extensions["token_registry"].is_token(value):
            return value
    return None


def request_upstream_key(body_key: str | None = None) -> str | None:
    """The upstream key for the current request (None: the server key). Every surface asks this."""
    key = upstream_key_for(client_key_from_request(body_key))
    if key is not None:
        check_key_format(key)
    return key
