"""A tiny identity provider on loopback: an OpenID discovery document and a JWKS, RSA and EC keys made at test time
with `cryptography`, and tokens signed with them (PyJWT). It can rotate its keys, go down, and count fetches."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "chat-api"


class IdentityProvider:
    def __init__(self):
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (algorithm, private key), all published
        self.up = True
        self.fetches = 0
        self.discoveries = 0
        self.paths: list[str] = []  # each request's path as sent (http.server folds a leading '//' in self.path)
        self.hold: threading.Event | None = None  # when set to an event, the key set waits for it (a hang)
        self.hold_discovery: threading.Event | None = None  # the same for the discovery document
        self.add_key("RS256")
        self.add_key("ES256")
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                provider.paths.append(self.requestline.split()[1])
                if not provider.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                if provider.paths[-1] == "/.well-known/openid-configuration":
                    provider.discoveries += 1
                    if provider.hold_discovery is not None:
                        provider.hold_discovery.wait(30)
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/jwks.json"}
                elif provider.paths[-1] == "/jwks.json":
                    provider.fetches += 1
                    if provider.hold is not None:
                        provider.hold.wait(30)
                    body = {"keys": provider.public_keys()}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> IdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_key(self, algorithm: str) -> str:
        """A new signing key, published from now on (a rotation); its kid is returned."""
        kid = f"{algorithm.lower()}-{secrets.token_hex(4)}"
        private = (
            rsa.generate_private_key(65537, 2048)
            if algorithm.startswith("RS")
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = (algorithm, private)
        return kid

    def public_keys(self) -> list[dict]:
        published = []
        for kid, (algorithm, private) in self.keys.items():
            key = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(private.public_key()))
            published.append({**key, "kid": kid, "alg": algorithm, "use": "sig"})
        return published

    def kid_of(self, algorithm: str) -> str:
        return next(kid for kid, (alg, _) in self.keys.items() if alg == algorithm)

    def token(
        self, user: object = "ada", kid: str | None = None, lifetime: float = 300, named: bool = True, **claims
    ) -> str:
        """A valid token for `user`, signed with `kid` (default: the first RSA key), which its header names unless
        `named` is false."""
        kid = kid or self.kid_of("RS256")
        algorithm, private = self.keys[kid]
        now = time.time()
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": user, "iat": int(now), "exp": int(now + lifetime), **claims}
        return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid} if named else None)
