"""Several upstreams in tests: an UPSTREAMS_FILE table written from keywords, and a chat call to send."""

from __future__ import annotations

from tests.support.keys import secret

KEY_A, KEY_B, KEY_AZURE = (
    secret("sk-upstream-a-" + "1" * 30),
    secret("sk-upstream-b-" + "2" * 30),
    secret("azure-key-" + "3" * 30),
)
HELLO = [{"role": "user", "content": "hi"}]


def table(name, url, key_env=None, models=("gpt-4o-mini", "gpt-4o"), **fields) -> str:
    """One `[[upstreams]]` table: `fields` as TOML values."""
    lines = [f'name = "{name}"', f'base_url = "{url}"', f"models = {list(models)!r}".replace("'", '"')]
    if key_env:
        lines.append(f'api_key_env = "{key_env}"')
    for field, value in fields.items():
        lines.append(
            f"{field} = {str(value).lower() if isinstance(value, bool) else repr(value).replace(chr(39), chr(34))}"
        )
    return "[[upstreams]]\n" + "\n".join(lines) + "\n"


def chat(client, model="gpt-4o-mini", **headers):
    return client.post("/v1/chat/completions", json={"model": model, "messages": HELLO}, headers=headers)
