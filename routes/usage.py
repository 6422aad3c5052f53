"""GET /usage: the usage ledger, a caller's own totals (everyone's for an admin token)."""

from flask import Blueprint

from guard.access import caller_is_admin, current_caller
from guard.usage_ledger import usage_ledger

bp = Blueprint("usage", __name__)


@bp.get("/usage")
def usage():
    """Show token usage by caller and model."""
    if caller_is_admin():
        return {"scope": "all", "usage": usage_ledger().totals()}
    caller = current_caller()
    return {"scope": "caller", "caller": caller, "usage": usage_ledger().totals(caller).get(caller, {})}
