"""Which models a caller may use: a stored token can be limited to a list of them."""

from __future__ import annotations

from chatgate.models import check_allowed
from chatgate.upstream import Call, CallHook


class ModelPolicy(CallHook):
    """Refuse a call on a model the caller's token was not given."""

    def before(self, call: Call) -> None:
        if policy := call.policy:
            check_allowed(call.model, policy.models, policy.name)
