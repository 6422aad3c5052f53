"""Secret scrubbing: nothing key-shaped survives into a message we pass on."""

import pytest

from chatgate.errors import redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Incorrect API key provided: sk-proj-abc**********wxyz.", "Incorrect API key provided: [redacted]."),
        ("key sk-1234567890abcdef was bad", "key [redacted] was bad"),
        ("Authorization: Bearer tok_123 rejected", "Authorization: [redacted] rejected"),
        ("nothing secret here, sk-", "nothing secret here, sk-"),
    ],
)
def test_redact_removes_anything_key_shaped(text, expected):
    assert redact(text) == expected
