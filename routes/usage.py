"""GET /usage: the usage ledger, a caller's own totals (everyone's for an admin token)."""

from flask import Blueprint, current_app, g

bp = Blueprint("usage", __name__)


@bp.get("/usage")
def usage():
    """Show token usage by caller and model."""
    ledger = current_app.extensions["usage_ledger"]
    if g.is_admin:
        return {"scope": "all", "usage": ledger.totals()}
    return {"scope": "caller", "caller": g.caller, "usage": ledger.totals(g.caller).get(g.caller, {})}
