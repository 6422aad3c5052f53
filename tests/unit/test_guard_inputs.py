"""What the guard takes from a request or an upstream's answer is checked for its shape before it is used: an id
that is no string, usage that is no object or a tool that is no object is passed over, never a crash."""

from chatgate.config import Settings
from chatgate.guard.access import TokenRegistry
from chatgate.guard.credentials import Credentials
from chatgate.guard.ownership import Ownership
from chatgate.guard.spend_limits import _hosted_tool
from chatgate.guard.token_store import TokenStore
from chatgate.storage.sqlite import SQLiteBackend


class RecordingStore:
    def __init__(self):
        self.claims: list[tuple] = []

    def claim(self, kind, item_id, identities, ttl):
        self.claims.append((kind, item_id, identities, ttl))

    def owners(self, kind, item_id):
        return frozenset(owner for k, i, owners, _ in self.claims if (k, i) == (kind, item_id) for owner in owners)


def ownership_in(store, tmp_path) -> Ownership:
    settings = Settings()
    tokens = TokenRegistry(settings, TokenStore(SQLiteBackend(str(tmp_path / "tokens.sqlite3")).tokens()))
    return Ownership(store, tokens, Credentials(settings, tokens))


def test_only_a_non_empty_string_id_is_claimed(tmp_path):
    store = RecordingStore()
    ownership = ownership_in(store, tmp_path)
    for odd in (None, "", 42, ["resp_1"]):
        ownership.claim("response", odd, frozenset({"token:a"}), 60)
    ownership.claim("response", "resp_1", frozenset({"token:a"}), 60)
    assert store.claims == [("response", "resp_1", frozenset({"token:a"}), 60)]


def test_a_responses_tokens_are_noted_only_for_a_string_id_with_usage(tmp_path):
    store = RecordingStore()
    ownership = ownership_in(store, tmp_path)
    usage = {"input_tokens": 30, "output_tokens": 12}
    ownership.record_tokens(42, usage, 60)
    ownership.record_tokens("", usage, 60)
    ownership.record_tokens("resp_1", None, 60)
    ownership.record_tokens("resp_1", "30 in, 12 out", 60)
    assert store.claims == []
    ownership.record_tokens("resp_1", usage, 60)
    assert ownership.recorded_tokens("resp_1") == 42


def test_a_tool_that_is_no_object_is_passed_over():
    assert _hosted_tool({"tools": ["web_search", 7, None, {"type": "function", "name": "f"}]}) is None
    assert _hosted_tool({"tools": ["web_search", {"type": "web_search_preview"}]}) == "web_search_preview"
