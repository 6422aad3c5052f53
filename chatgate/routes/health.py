"""Health for machines: GET /health (the original liveness answer), /health/live and /health/ready."""

from flask import Blueprint

from chatgate.config import SERVICE_NAME, current_settings
from chatgate.storage import current_storage
from chatgate.upstream import upstream_client
from chatgate.web.lifecycle import shutting_down

bp = Blueprint("health", __name__)


def key_state() -> str:
    """Which keys can reach the upstream, in the words both health answers use."""
    settings = current_settings()
    if settings.openai_api_key or settings.upstreams:  # the file's upstreams bring keys of their own
        return "server key"
    return "client keys only" if settings.allow_client_keys else "none"


@bp.get("/health")
def health():
    """Check API health status."""
    return {"status": "healthy", "service": SERVICE_NAME, "provider": "OpenAI", "upstream_key": key_state()}


@bp.get("/health/live")
def live():
    """Say the process is serving (for a liveness probe; it checks nothing else)."""
    return {"status": "live"}


@bp.get("/health/ready")
def ready():
    """Say whether this instance should get traffic: a key to use, storage that answers, not shutting down."""
    keys = key_state()
    router = upstream_client().router
    checks = {
        "upstream_key": f"ok: {keys}"
        if keys != "none"
        else "none: no upstream key is configured and client keys are not allowed",
        "storage": current_storage().problem() or "ok",
        "lifecycle": "shutting down" if shutting_down() else "ok",
    }
    if router.several:  # each upstream by name, with its state; not ready only when none can serve
        states = {upstream.name: router.state_of(upstream) for upstream in router.upstreams}
        awake = any(not state.startswith("resting") for state in states.values())
        checks["upstreams"] = "ok" if awake else "every upstream is resting"
        answer_upstreams = {"upstreams": states}
    else:
        answer_upstreams = {}
    ok = all(value.startswith("ok") for value in checks.values())
    return {"status": "ready" if ok else "not ready", "checks": checks, **answer_upstreams}, 200 if ok else 503
