"""Who may call: service tokens (API_TOKENS), checked in constant time, and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, g, has_request_context, request

from config import SERVICE_NAME, Settings
from errors import Unauthorized

# Open to everyone even with access control on: the service's description, its health, and the docs.
PUBLIC_PATHS = frozenset({"/", "/health", "/health/live", "/health/ready", "/openapi.json", "/docs", "/redoc",
                          "/playground"})
PUBLIC_PREFIXES = ("/docs/", "/redoc/", "/playground/", "/static/")
CHALLENGE = {"WWW-Authenticate": f'Bearer realm="{SERVICE_NAME.lower().replace(" ", "-")}"'}
_KEY = "token_registry"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_value() -> str | None:
    """The value of the request's `Authorization: Bearer <value>` header, if it has one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def presented_token() -> str | None:
    """The service token the request carries: `X-API-Key`, else `Authorization: Bearer`."""
    return request.headers.get("X-API-Key", "").strip() or bearer_value()


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class TokenRegistry:
    """The configured service tokens, kept only as digests and compared in constant time."""

    def __init__(self, settings: Settings):
        self._tokens = [_digest(t) for t in settings.api_tokens]
        self._admins = [_digest(t) for t in settings.admin_tokens]

    def _matches(self, digest: bytes, digests: list[bytes]) -> bool:
        # Compare against every token, with no early exit, so timing says nothing about which matched.
        found = False
        for candidate in digests:
            found |= hmac.compare_digest(digest, candidate)
        return found

    def is_token(self, token: str | None) -> bool:
        """Whether `token` is a configured service or admin token."""
        if not token:
            return False
        digest = _digest(token)
        return self._matches(digest, self._tokens) | self._matches(digest, self._admins)

    def is_admin(self, token: str | None) -> bool:
        return bool(token) and self._matches(_digest(token), self._admins)


def caller_of(token: str | None, registry: TokenRegistry) -> str:
    """A stable, non-secret name for the caller: a token's digest prefix, else the client address."""
    if registry.is_token(token):
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"ip:{request.remote_addr or 'unknown'}"


def token_registry() -> TokenRegistry:
    """The current app's service tokens."""
    return current_app.extensions[_KEY]


def current_caller() -> str:
    """Who is calling: the name limits, the ledger and the logs use."""
    return g.get("caller", "unknown") if has_request_context() else "unknown"


def caller_is_admin() -> bool:
    """Whether the caller presented an admin token."""
    return g.is_admin


def identify(registry: TokenRegistry) -> None:
    """Name the caller of this request (nothing is refused yet)."""
    token = presented_token()
    g.caller = caller_of(token, registry)
    g.is_admin = registry.is_admin(token)


def needs_token(settings: Settings) -> bool:
    """Whether this request must carry a service token."""
    return settings.access_control and request.method != "OPTIONS" and not is_public(request.path)


def admit(registry: TokenRegistry, settings: Settings) -> None:
    """Refuse the request without a valid token when access control is on."""
    if needs_token(settings) and not registry.is_token(presented_token()):
        message = ("A valid service token is required: send it as 'Authorization: Bearer <token>' "
                   "or 'X-API-Key: <token>'.")
        raise Unauthorized(message, code="missing_or_invalid_token", headers=CHALLENGE)


def init_app(app: Flask, settings: Settings) -> TokenRegistry:
    """Give the app its service tokens."""
    registry = app.extensions[_KEY] = TokenRegistry(settings)
    return registry
