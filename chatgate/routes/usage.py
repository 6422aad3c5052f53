"""GET /usage: the usage ledger and its cost, a caller's own (everyone's for an admin token), as totals or as
buckets over time, in JSON or CSV."""

from __future__ import annotations

import csv
import datetime
import io
import math
import time

from flask import Blueprint, Response, request

from chatgate.errors import BadRequest
from chatgate.guard.access import caller_is_admin, current_caller
from chatgate.guard.usage_ledger import prices, usage_ledger
from chatgate.storage.records import FIELDS, Totals
from chatgate.web.openapi import documented
from chatgate.web.request_log import visible

bp = Blueprint("usage", __name__)

BUCKETS = {"hour": 3600, "day": 86400}
LONGEST = 400 * 86400  # the longest time a bucket query covers
DEFAULT_SPAN = {"hour": 2 * 86400, "day": 31 * 86400}
LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z: the last instant a date can name
INSTANT = {"type": "string", "description": "A Unix time in seconds, or an ISO 8601 date (UTC unless it says)"}


def _priced(models: dict[str, dict]) -> tuple[dict[str, dict], float, float]:
    """Each model's sums with its `cost_usd` and the `saved_usd` of its cache hits (None without a price), and what
    the priced ones cost and saved together."""
    entries, total, saved = {}, 0.0, 0.0
    for model, sums in models.items():
        entries[model] = {**sums, **_money(model, sums)}
        total += entries[model]["cost_usd"] or 0.0
        saved += entries[model]["saved_usd"] or 0.0
    return entries, round(total, 10), round(saved, 10)


def _money(model: str, sums: dict) -> dict[str, float | None]:
    cost, saved = prices().cost(model, sums), prices().saved(model, sums)
    return {
        "cost_usd": None if cost is None else round(cost, 10),
        "saved_usd": None if saved is None else round(saved, 10),
    }


def _instant(name: str, default: float) -> int:
    raw = request.args.get(name)
    if raw is None:
        return int(default)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = _iso_seconds(name, raw)
    if not (math.isfinite(seconds) and 0 <= seconds <= LATEST):
        raise BadRequest(f"'{name}' must be a time from 1970 to 9999, not {raw!r}.", param=name)
    return int(seconds)


def _iso_seconds(name: str, raw: str) -> float:
    try:
        moment = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{name}' must be a Unix time or an ISO 8601 date, not {raw!r}.", param=name) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def _buckets(by: str, caller: str | None) -> tuple[int, int, list[dict]]:
    width, now = BUCKETS[by], time.time()
    until = _instant("until", now)
    since = _instant("since", until - DEFAULT_SPAN[by])
    if since >= until or until - since > LONGEST:
        raise BadRequest("'since' must come before 'until', at most 400 days apart.", param="since")
    merged: dict[tuple[int, str, str], dict[str, int]] = {}
    for hour, callers in usage_ledger().hours(since - since % 3600, until, caller).items():
        for who, models in callers.items():
            for model, sums in models.items():
                bucket = merged.setdefault((hour - hour % width, who, model), dict.fromkeys(FIELDS, 0))
                for field in FIELDS:
                    bucket[field] += sums.get(field, 0)
    rows = []
    for (start, who, model), sums in sorted(merged.items()):
        rows.append({"start": _iso(start), "caller": who, "model": model, **sums, **_money(model, sums)})
    return since, until, rows


def _csv(rows: list[dict]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(rows[0]) if rows else ["caller", "model", *FIELDS, "cost_usd", "saved_usd"]
    )
    writer.writeheader()
    writer.writerows({k: visible(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows)
    return Response(out.getvalue(), mimetype="text/csv")


def _total_rows(totals: Totals) -> list[dict]:
    return [
        {"caller": who, "model": model, **sums, **_money(model, sums)}
        for who, models in totals.items()
        for model, sums in models.items()
    ]


@bp.get("/usage")
@documented(
    responses={200: (dict, "text/csv")},
    query={
        "by": {"type": "string", "enum": list(BUCKETS)},
        "since": INSTANT,
        "until": INSTANT,
        "format": {"type": "string", "enum": ["json", "csv"]},
    },
)
def usage():
    """Show token usage and its cost by caller and model, as totals or buckets over time."""
    caller = None if caller_is_admin() else current_caller()
    by, form = request.args.get("by"), request.args.get("format", "json")
    if by is not None and by not in BUCKETS:
        raise BadRequest("'by' must be hour or day.", param="by")
    if form not in ("json", "csv"):
        raise BadRequest("'format' must be json or csv.", param="format")
    if by:
        since, until, rows = _buckets(by, caller)
        if form == "csv":
            return _csv(rows)
        scope = {"scope": "all"} if caller is None else {"scope": "caller", "caller": caller}
        return {**scope, "by": by, "since": _iso(since), "until": _iso(until), "buckets": rows}
    totals = usage_ledger().totals(caller)
    if form == "csv":
        return _csv(_total_rows(totals))
    if caller is None:
        priced = {who: _priced(models) for who, models in totals.items()}
        return {
            "scope": "all",
            "usage": {who: entries for who, (entries, _, _) in priced.items()},
            "cost_usd": {who: total for who, (_, total, _) in priced.items()},
            "saved_usd": {who: saved for who, (_, _, saved) in priced.items()},
        }
    entries, total, saved = _priced(totals.get(caller, {}))
    return {"scope": "caller", "caller": caller, "usage": entries, "cost_usd": total, "saved_usd": saved}
