"""Which models a caller may use: a stored token can be limited to a list of them."""

from __future__ import annotations

from errors import Forbidden
from upstream import Call, CallHook


class ModelPolicy(CallHook):
    """Refuse a call on a model the caller's token was not given."""

    def before_call(self, call: Call) -> None:
        policy = call.policy
        if policy and policy.models and call.model not in policy.models:
            raise Forbidden(f"The token {policy.name!r} may use only these models: {', '.join(policy.models)}.",
                            code="model_not_allowed", param="model")
