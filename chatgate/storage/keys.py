"""Names of stored things built from names callers choose (a user's `sub`, a token's name, a chat id).

Every part is percent-escaped before it is joined, so that no name can spell another key: the user
`alice/spend` cannot reach alice's dollar budget, nor `a|b` another caller's chat.
"""

from __future__ import annotations

from urllib.parse import quote


def escaped(name: str) -> str:
    """`name` with every character but letters, digits and `_.-~` percent-escaped: it holds no separator."""
    return quote(name, safe="")


def storage_key(kind: str, *names: str) -> str:
    """`kind` and the escaped `names`, joined by `/`."""
    return "/".join((kind, *map(escaped, names)))
