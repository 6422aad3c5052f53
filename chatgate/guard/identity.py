"""Signed-in users: the identity provider's JWTs (access or ID tokens), verified with PyJWT.

A bearer shaped like a JWT is verified as one, and only as one: its signature with the provider's
key (from its JWKS, found by OpenID discovery unless JWT_JWKS_URL names it) or with JWT_SECRET
(HS256), then its issuer, audience, expiry and not-before, with JWT_LEEWAY. `alg: none`, an
algorithm outside JWT_ALGORITHMS, an HMAC token when there is no shared secret, an unknown key and
a token over 16 KB are refused; key URLs named inside a token (`jku`, `x5u`) are never fetched.

The key set is fetched when a token names a key it does not have (a rotation), at most once every
JWT_REFETCH_SECONDS (5 s), so bad tokens cannot hammer the provider; keys already known keep working
while the provider is unreachable, and a token that needs one the service cannot fetch is a 503.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable

import jwt

from chatgate.config import Settings
from chatgate.errors import ApiError, Unauthorized

MOST_BYTES = 16 * 1024
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
CHALLENGE = 'Bearer error="invalid_token"'


class IdentityProviderUnreachable(ApiError):
    status, code, type = 503, "identity_provider_unreachable", "service_unavailable_error"


def looks_like_jwt(token: str | None) -> bool:
    """Three base64url segments: such a bearer is a JWT, never a service token."""
    return bool(token and _SHAPE.match(token))


class KeySet:
    """The provider's signing keys by `kid`, fetched on a key it has not seen, never more often than every
    `refetch_after` seconds; the last good set stays while the provider is down. Known keys never wait on a
    fetch: only a token that needs a new key waits, one fetch at a time, each bounded by `timeout`."""

    def __init__(self, url_of: Callable[[], str], refetch_after: float, timeout: float):
        self._url_of = url_of  # the JWKS URL (discovery may have to find it first)
        self._refetch_after = refetch_after
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] = {}  # replaced whole, never changed in place: read without a lock
        self._tried_at = float("-inf")
        self._unreachable = False  # the last fetch (or the discovery before it) failed
        self._fetching = threading.Lock()

    def key(self, kid: str | None) -> jwt.PyJWK:
        if (known := _pick(self._keys, kid)) is not None:
            return known
        with self._fetching:
            if (known := _pick(self._keys, kid)) is not None:  # fetched while this one waited
                return known
            if time.monotonic() - self._tried_at >= self._refetch_after:
                self._tried_at = time.monotonic()
                self._keys = self._fetch() or self._keys
                if (known := _pick(self._keys, kid)) is not None:
                    return known
            if self._unreachable:  # the key may well exist: the provider could not say
                raise IdentityProviderUnreachable("The identity provider could not be reached to check this token.")
        raise _refused("it names a key the identity provider does not publish")

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            data = jwt.PyJWKClient(self._url_of(), cache_jwk_set=False, timeout=self._timeout).fetch_data()
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError, IdentityProviderUnreachable):
            self._unreachable = True
            return {}  # keep what is known
        self._unreachable = False
        return {key.key_id: key for key in keys if key.key_id}


def _pick(keys: dict[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is None and len(keys) == 1:  # a provider with one key may leave kid out
        return next(iter(keys.values()))
    return keys.get(kid) if kid is not None else None


class JwtVerifier:
    """Verify a JWT bearer and name its user, as JWT_* settings say."""

    def __init__(self, settings: Settings):
        self.issuer, self.audience = settings.jwt_issuer, settings.jwt_audience
        self.secret = settings.jwt_secret
        self.algorithms = settings.jwt_algorithms or (("HS256",) if self.secret else ASYMMETRIC)
        self.user_claim, self.leeway = settings.jwt_user_claim, settings.jwt_leeway
        self.admin_claim, self.admin_values = settings.jwt_admin_claim, frozenset(settings.jwt_admin_values)
        self._jwks_url = settings.jwt_jwks_url
        self._discovered_at = float("-inf")
        self._refetch_after, self._timeout = settings.jwt_refetch_seconds, settings.jwt_fetch_timeout
        self.keys = KeySet(self._key_set_url, settings.jwt_refetch_seconds, settings.jwt_fetch_timeout)

    @staticmethod
    def takes(token: str | None) -> bool:
        """Whether `token` is a sign-in to verify here: shaped like a JWT (never a service token)."""
        return looks_like_jwt(token)

    def user(self, token: str) -> tuple[str, bool]:
        """The caller a valid token names (`user:<claim>`), and whether its admin claim makes it an admin; else
        Unauthorized, or 503 for a provider away."""
        if len(token) > MOST_BYTES:
            raise _refused("it is larger than 16 KB")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _refused("it is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none" or algorithm not in self.algorithms:
            raise _refused(f"its algorithm {algorithm!r} is not accepted")
        is_hmac = algorithm.startswith("HS")
        if is_hmac != bool(self.secret):  # an HMAC token signed with a public key is the classic forgery
            raise _refused(f"its algorithm {algorithm!r} is not accepted")
        key: str | jwt.PyJWK = (self.secret or "") if is_hmac else self.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("it has expired") from None
        except jwt.ImmatureSignatureError:
            raise _refused("it is not valid yet") from None
        except jwt.InvalidTokenError as error:
            raise _refused(f"{type(error).__name__}") from None
        user = claims.get(self.user_claim)
        if not isinstance(user, str | int) or isinstance(user, bool) or not str(user):
            raise _refused(f"it has no {self.user_claim!r} claim")
        return f"user:{user}", self._is_admin(claims)

    def _is_admin(self, claims: dict[str, object]) -> bool:
        """Whether the admin claim (JWT_ADMIN_CLAIM) is one of JWT_ADMIN_VALUES, or a list that holds one."""
        if not self.admin_claim:
            return False
        value = claims.get(self.admin_claim)
        held = value if isinstance(value, list) else [value]
        return any(isinstance(item, str) and item in self.admin_values for item in held)

    def _key_set_url(self) -> str:
        if self._jwks_url:
            return self._jwks_url
        if time.monotonic() - self._discovered_at < self._refetch_after:
            raise IdentityProviderUnreachable("The identity provider could not be reached to check this token.")
        self._discovered_at = time.monotonic()
        discovery = f"{(self.issuer or '').rstrip('/')}/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(discovery, timeout=self._timeout) as answer:  # noqa: S310 (the issuer's)
                url = json.loads(answer.read()).get("jwks_uri")
        except (OSError, ValueError):
            url = None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise IdentityProviderUnreachable("The identity provider's discovery document could not be read.")
        self._jwks_url = url
        return url


def _refused(why: str) -> Unauthorized:
    message = f"The bearer token is not a valid sign-in: {why}."
    return Unauthorized(message, code="invalid_token", headers={"WWW-Authenticate": CHALLENGE})
