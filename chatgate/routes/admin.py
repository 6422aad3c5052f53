"""The admin page and its JSON API (/admin, /admin/api/...): stored tokens, upstreams, recent calls and the audit
lines, for admins only (an admin token, or a signed-in user with the admin claim). The API takes the bearer on every
request and sets no cookie, so no other site can act through an admin's browser; each action leaves an audit line."""

from __future__ import annotations

import statistics
import time
from typing import Any

from flask import Blueprint, request, send_from_directory

import chatgate.guard.token_admin as token_admin
from chatgate.errors import BadRequest, Forbidden, NotFound, Unauthorized
from chatgate.guard.access import CHALLENGE, caller_is_admin, current_caller, presented_token, token_registry
from chatgate.guard.usage_ledger import prices, usage_ledger
from chatgate.routes.playground import PAGE_POLICY, STATIC_DIR
from chatgate.routes.schemas.admin import NewToken, Rest, TokenChange
from chatgate.upstream import upstream_client
from chatgate.web.openapi import documented
from chatgate.web.recent_calls import recent_calls
from chatgate.web.validation import json_body

PAGE_DIR = STATIC_DIR / "admin"
WINDOWS = {"5m": 300, "60m": 3600}
FILTERS = ("caller", "model", "upstream", "status")
MOST_CALLS_A_PAGE = 200

bp = Blueprint("admin", __name__, static_folder=str(PAGE_DIR), static_url_path="/admin/static")


@bp.before_request
def admins_only() -> None:
    """The API answers admins only: 401 without a valid bearer, 403 for a caller that is no admin."""
    if request.path.startswith("/admin/api/") and not caller_is_admin():
        if not token_registry().is_token(presented_token()) and not _signed_in():
            raise Unauthorized(
                "An admin token, or a sign-in with the admin claim, is required: send it as "
                "'Authorization: Bearer <token>'.",
                code="admin_required",
                headers=CHALLENGE,
            )
        raise Forbidden(
            "This caller is not an admin: the admin API takes an admin token (ADMIN_TOKENS, or a stored token made "
            "with --admin) or a sign-in whose JWT_ADMIN_CLAIM holds one of JWT_ADMIN_VALUES."
        )


def _signed_in() -> bool:
    return current_caller().startswith("user:")


@bp.get("/admin")
@documented(responses={200: "text/html"})
def admin_page():
    """Open the admin page: tokens, upstreams and recent calls (the page asks for an admin token)."""
    page = send_from_directory(PAGE_DIR, "index.html", max_age=0)
    page.headers.update(PAGE_POLICY)  # the playground's: its own scripts only, no other host
    return page


@bp.get("/admin/api/tokens")
@documented(responses={200: dict, 401: dict, 403: dict})
def list_tokens():
    """List the stored tokens: each one's policy, when it was last used, and its tokens and spend today."""
    today = _today()
    last_used: dict[str, float] = {}
    for call in recent_calls().latest():
        last_used.setdefault(call["caller"], call["at"])
    listed = []
    for stored in token_registry().store.listing():
        caller = f"token:{stored.name}"
        sums = today.get(caller, {})
        listed.append(
            {
                **token_admin.described(stored),
                "last_used_at": token_admin.iso(last_used.get(caller)),
                "tokens_today": sum(model.get("total_tokens", 0) for model in sums.values()),
                "spend_today_usd": round(sum(prices().cost(m, s) or 0.0 for m, s in sums.items()), 10),
            }
        )
    return {"tokens": listed}


@bp.post("/admin/api/tokens")
@documented(responses={201: dict, 400: dict, 401: dict, 403: dict, 409: dict})
@json_body(NewToken)
def create_token(body: NewToken):
    """Make a stored token; the answer holds the token itself, shown this once (only its digest is kept)."""
    policy = body.model_dump(exclude={"name"})
    try:
        token, stored = token_admin.create(token_registry().store, body.name, **policy)
    except ValueError as error:
        status = 409 if "exists already" in str(error) else 400
        raise BadRequest(str(error), status=status) from None
    recent_calls().audit("create token", body.name, policy=_policy(policy))
    return {"token": token, **token_admin.described(stored)}, 201


@bp.patch("/admin/api/tokens/<name>")
@documented(responses={200: dict, 400: dict, 401: dict, 403: dict, 404: dict})
@json_body(TokenChange)
def change_token(name: str, body: TokenChange):
    """Change a stored token's limits, models, expiry, admin or cache: every instance uses it within a second."""
    changes = body.model_dump(include=body.model_fields_set)
    try:
        stored = token_admin.change(token_registry().store, name, **changes)
    except LookupError as error:
        raise NotFound(str(error.args[0])) from None
    except ValueError as error:
        raise BadRequest(str(error)) from None
    recent_calls().audit("change token", name, changes=_policy(changes))
    return token_admin.described(stored)


@bp.delete("/admin/api/tokens/<name>")
@documented(responses={200: dict, 401: dict, 403: dict, 404: dict})
def revoke_token(name: str):
    """Revoke a stored token: every instance refuses it within a second."""
    try:
        stored = token_admin.revoke(token_registry().store, name)
    except LookupError as error:
        raise NotFound(str(error.args[0])) from None
    recent_calls().audit("revoke token", name)
    return token_admin.described(stored)


@bp.get("/admin/api/upstreams")
@documented(responses={200: dict, 401: dict, 403: dict})
def list_upstreams():
    """Each upstream's state (serving, or resting until when and why), and its calls, error rate and latency over
    the last 5 and 60 minutes of the recent calls."""
    router, now = upstream_client().router, time.time()
    attempts = [attempt for call in recent_calls().latest() for attempt in call.get("attempts", [])]
    listed = []
    for upstream in router.upstreams:
        until, failures = router.rest_of(upstream)
        resting = until > now
        listed.append(
            {
                "name": upstream.name,
                "kind": upstream.kind,
                "models": list(upstream.models) if upstream.models else ("auto" if upstream.models_auto else None),
                "state": router.state_of(upstream),
                "resting": resting,
                "resting_until": token_admin.iso(until) if resting else None,
                "why": (f"{failures} failures in a row" if failures else "rested by an admin") if resting else None,
                "can_rest": router.several,
                "stats": {
                    window: _stats([a for a in attempts if a[0] == upstream.name and a[3] >= now - seconds])
                    for window, seconds in WINDOWS.items()
                },
            }
        )
    return {"upstreams": listed}


@bp.post("/admin/api/upstreams/<name>/rest")
@documented(responses={200: dict, 400: dict, 401: dict, 403: dict, 404: dict, 409: dict})
@json_body(Rest)
def rest_upstream(name: str, body: Rest):
    """Rest an upstream now, for the seconds asked (at most a day): calls go to the others."""
    router = upstream_client().router
    try:
        until = router.rest_by_hand(_upstream(name), body.seconds)
    except ValueError as error:
        raise BadRequest(str(error), status=409) from None
    recent_calls().audit("rest upstream", name, seconds=body.seconds)
    return {"name": name, "resting_until": token_admin.iso(until)}


@bp.post("/admin/api/upstreams/<name>/resume")
@documented(responses={200: dict, 401: dict, 403: dict, 404: dict, 409: dict})
def resume_upstream(name: str):
    """Bring a resting upstream back now."""
    try:
        upstream_client().router.resume(_upstream(name))
    except ValueError as error:
        raise BadRequest(str(error), status=409) from None
    recent_calls().audit("resume upstream", name)
    return {"name": name, "resting_until": None}


@bp.get("/admin/api/calls")
@documented(
    responses={200: dict, 400: dict, 401: dict, 403: dict},
    query={
        "caller": {"type": "string"},
        "model": {"type": "string"},
        "upstream": {"type": "string"},
        "status": {"type": "string", "description": "A status (502), a class (5xx), or 'error' (400 and up)"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MOST_CALLS_A_PAGE},
        "offset": {"type": "integer", "minimum": 0},
    },
)
def list_calls():
    """List the recent calls across instances, newest first, filtered by caller, model, upstream and status."""
    limit, offset = _whole("limit", 50, 1, MOST_CALLS_A_PAGE), _whole("offset", 0, 0, 10**9)
    wanted = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    matching = [call for call in recent_calls().latest() if all(_matches(call, k, v) for k, v in wanted.items())]
    return {"calls": matching[offset : offset + limit], "total": len(matching), "kept": recent_calls().size}


@bp.get("/admin/api/audit")
@documented(responses={200: dict, 401: dict, 403: dict})
def list_audit():
    """List the admin actions, newest first: who did what to which token or upstream."""
    return {"audit": recent_calls().audit_lines()}


def _upstream(name: str) -> Any:
    found = next((u for u in upstream_client().router.upstreams if u.name == name), None)
    if found is None:
        raise NotFound(f"No upstream is called {name!r}.")
    return found


def _policy(fields: dict[str, Any]) -> dict[str, Any]:
    """What the audit line says of a policy: the fields given a value, as given (a token has none)."""
    return {key: value for key, value in fields.items() if value is not None}


def _today() -> dict[str, dict[str, dict[str, int]]]:
    """Each caller's usage by model since midnight UTC."""
    now = int(time.time())
    totals: dict[str, dict[str, dict[str, int]]] = {}
    for callers in usage_ledger().hours(now - now % 86400, now + 1).values():
        for caller, models in callers.items():
            for model, sums in models.items():
                kept = totals.setdefault(caller, {}).setdefault(model, {})
                for field, amount in sums.items():
                    kept[field] = kept.get(field, 0) + amount
    return totals


def _stats(attempts: list[list[Any]]) -> dict[str, Any]:
    """Calls, errors, their rate, and the median and 95th percentile of their time, in milliseconds."""
    times = sorted(attempt[2] for attempt in attempts)
    errors = sum(1 for attempt in attempts if attempt[1] != "ok")
    return {
        "calls": len(attempts),
        "errors": errors,
        "error_rate": round(errors / len(attempts), 4) if attempts else None,
        "p50_ms": round(statistics.median(times), 1) if times else None,
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1) if times else None,
    }


def _matches(call: dict[str, Any], name: str, wanted: str) -> bool:
    if name != "status":
        return str(call.get(name)) == wanted or (name == "model" and call.get("served_by") == wanted)
    status = int(call.get("status") or 0)
    if wanted == "error":
        return status >= 400
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return status // 100 == int(wanted[0])
    return str(status) == wanted


def _whole(name: str, default: int, least: int, most: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not least <= int(raw) <= most:
        raise BadRequest(f"'{name}' must be a whole number from {least} to {most}, not {raw!r}.", param=name)
    return int(raw)
