"""Who may call: service tokens (API_TOKENS), checked in constant time, and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac
from typing import cast

from flask import Flask, current_app, g, has_request_context, request

from chatgate.config import SERVICE_NAME, Settings
from chatgate.errors import ApiError, Unauthorized
from chatgate.guard.token_store import TokenStore, digest
from chatgate.storage.records import StoredToken

# Open to everyone even with access control on: the service's description, its health, and the docs.
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/health",
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs",
        "/redoc",
        "/playground",
        "/dashboard",
        "/admin",
        "/favicon.ico",
        "/favicon.svg",
    }
)
PUBLIC_PREFIXES = ("/docs/", "/redoc/", "/playground/", "/dashboard/", "/admin/static/", "/static/")
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
    """The service tokens: those of the settings, kept only as digests and compared in constant time, and
    those in storage, looked up by the digest of what was presented."""

    def __init__(self, settings: Settings, store: TokenStore):
        self.settings = settings
        self.store = store
        self.verifier = None
        if settings.signed_in_users:
            # PyJWT and cryptography (about 9 MB a worker) are loaded only where users sign in.
            from chatgate.guard.identity import JwtVerifier

            self.verifier = JwtVerifier(settings)
        self._tokens = [_digest(t) for t in settings.api_tokens]
        self._admins = [_digest(t) for t in settings.admin_tokens]

    def access_control(self) -> bool:
        """On with any token, from the settings or from storage."""
        return self.settings.access_control or self.store.any()

    def stored(self, token: str | None) -> StoredToken | None:
        """The stored token `token` is, if it is one and usable."""
        return self.store.active().get(digest(token)) if token else None

    def stored_now(self, token: str) -> bool:
        """Whether `token` is a usable stored one, read from storage now: one made on another instance a moment
        ago, which this process's copy (up to a second old) does not know yet."""
        return digest(token) in self.store.read_again()

    def _matches(self, digest: bytes, digests: list[bytes]) -> bool:
        # Compare against every token, with no early exit, so timing says nothing about which matched.
        found = False
        for candidate in digests:
            found |= hmac.compare_digest(digest, candidate)
        return found

    def is_token(self, token: str | None) -> bool:
        """Whether `token` is a configured service or admin token, or a usable stored one."""
        if not token:
            return False
        presented = _digest(token)
        return (
            self._matches(presented, self._tokens) | self._matches(presented, self._admins)
            or self.stored(token) is not None
        )

    def is_admin(self, token: str | None) -> bool:
        """Whether `token` is an admin token: ADMIN_TOKENS, or a stored one made with --admin."""
        if not token:
            return False
        return self._matches(_digest(token), self._admins) or bool((stored := self.stored(token)) and stored.admin)


def caller_of(token: str | None, registry: TokenRegistry) -> str:
    """A stable, non-secret name for the caller: a stored token's name, a configured token's digest prefix,
    else the client address."""
    if stored := registry.stored(token):
        return f"token:{stored.name}"
    if token and registry.is_token(token):
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"ip:{request.remote_addr or 'unknown'}"


def token_registry() -> TokenRegistry:
    """The current app's service tokens."""
    return cast(TokenRegistry, current_app.extensions[_KEY])


def current_policy() -> StoredToken | None:
    """The stored token the caller presented, with its own limits and models, if it did."""
    return g.get("token_policy") if has_request_context() else None


def current_caller() -> str:
    """Who is calling: the name limits, the ledger and the logs use."""
    return g.get("caller", "unknown") if has_request_context() else "unknown"


def calling() -> tuple[str, StoredToken | None]:
    """Who makes this request's upstream calls, and under which stored token's policy: what each call carries."""
    return current_caller(), current_policy()


def caller_is_admin() -> bool:
    """Whether the caller is an admin: an admin token, or a signed-in user with the admin claim."""
    return bool(g.is_admin)


def identify(registry: TokenRegistry) -> None:
    """Name the caller of this request (nothing is refused yet). Public pages ask no storage: health must
    answer while storage is down."""
    token = presented_token()
    if request.method == "OPTIONS" or is_public(request.path):
        g.caller, g.is_admin = f"ip:{request.remote_addr or 'unknown'}", False
        return
    if registry.verifier and (sign_in := bearer_value()) and registry.verifier.takes(sign_in):  # only a sign-in
        g.caller, g.is_admin = f"ip:{request.remote_addr or 'unknown'}", False
        try:
            g.caller, g.is_admin = registry.verifier.user(sign_in)
        except ApiError as refusal:
            g.sign_in_refused = refusal  # said by admit, which counts it as a failed authentication
        return
    g.caller = caller_of(token, registry)
    g.is_admin = registry.is_admin(token)
    g.token_policy = registry.stored(token)


def needs_token(registry: TokenRegistry) -> bool:
    """Whether this request must carry a service token."""
    return request.method != "OPTIONS" and not is_public(request.path) and registry.access_control()


def admit(registry: TokenRegistry) -> None:
    """Refuse the request without a valid token, or with a sign-in that failed, when access control is on."""
    if (refusal := g.pop("sign_in_refused", None)) is not None:
        raise refusal
    if registry.verifier and g.get("caller", "").startswith("user:"):
        return
    token = presented_token()
    if needs_token(registry) and not registry.is_token(token):
        if token and registry.stored_now(token):  # past the failed-authentication limit: one read, not a flood
            identify(registry)
            return
        message = (
            "A valid service token or sign-in token (your identity provider's JWT) is required: send it as "
            "'Authorization: Bearer <token>' (a service token also as 'X-API-Key: <token>')."
            if registry.verifier
            else "A valid service token is required: send it as 'Authorization: Bearer <token>' or "
            "'X-API-Key: <token>'."
        )
        raise Unauthorized(message, code="missing_or_invalid_token", headers=CHALLENGE)


def admit_again() -> None:
    """Check a long-lived request's caller again before its next call (an open WebSocket's next response): a token
    revoked, a sign-in expired, or a token's limits changed since the request began, all count from now."""
    registry = token_registry()
    identify(registry)
    if needs_token(registry):
        admit(registry)


def init_app(app: Flask, settings: Settings, store: TokenStore) -> TokenRegistry:
    """Give the app its service tokens."""
    registry = app.extensions[_KEY] = TokenRegistry(settings, store)
    return registry
