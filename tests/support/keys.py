"""Secrets used by the tests; none of them may ever appear in a response or a log line."""

import itertools

SERVER_KEY = "sk-server-" + "S3cr3t" * 8
KNOWN_SECRETS = {SERVER_KEY}
_counter = itertools.count()


def client_key(prefix: str = "sk-proj-", length: int = 164) -> str:
    """A fresh, well-formed client (BYOK) key, registered as a secret to watch for."""
    stem = f"{prefix}client{next(_counter):04d}"
    key = stem + "k" * (length - len(stem))
    KNOWN_SECRETS.add(key)
    return key


def secret(value: str) -> str:
    """Register any other secret (a service token, say) to watch for."""
    KNOWN_SECRETS.add(value)
    return value
