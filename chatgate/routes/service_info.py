"""The OpenAI-compatible backend's server information: GET /info, with nothing secret in it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint

from chatgate.config import SERVICE_NAME, VERSION, current_settings
from chatgate.guard.access import token_registry
from chatgate.models import catalogue
from chatgate.routes.schemas.core import ServiceInfo
from chatgate.storage import current_storage
from chatgate.web.openapi import documented

bp = Blueprint("service_info", __name__)

OPENAI_HOST = "api.openai.com"

# The original "theme tokens": the colours the playground uses, for frontends that match it.
THEME = {
    "primary": "#2563eb",
    "background": "#f8fafc",
    "surface": "#ffffff",
    "text": "#0f172a",
    "muted": "#64748b",
    "error": "#b91c1c",
}


def _host(base_url: str | None) -> str:
    # Only the host: a base URL may carry credentials (https://user:pass@host/v1).
    return (urlsplit(base_url).hostname or "") if base_url else OPENAI_HOST


@bp.get("/info")
@documented(responses={200: ServiceInfo})
def info():
    """Show server information and theme tokens (no secrets)."""
    settings = current_settings()
    offered = catalogue()
    upstreams = [
        {"name": upstream.name, "kind": upstream.kind, "host": _host(upstream.base_url)}
        for upstream in settings.upstream_list
    ]
    first = settings.upstream_list[0]
    return {
        "name": SERVICE_NAME,
        "version": VERSION,
        "default_model": offered.default,
        "models": list(offered.names),
        "upstream": {  # the first upstream (the only one without UPSTREAMS_FILE)
            "host": _host(first.base_url),
            "is_openai": settings.upstream_is_openai
            if not settings.upstreams
            else _host(first.base_url) == OPENAI_HOST,
            "key_configured": any(upstream.api_key for upstream in settings.upstream_list),
        },
        "upstreams": upstreams,
        "cors": {"allow_origins": list(settings.allow_origins)},
        "features": {
            "access_control": token_registry().access_control(),
            "client_keys": settings.allow_client_keys,
            "rate_limit": settings.rate_limit,
            "token_limit": settings.token_limit,
            "session_store": current_storage().kind,
            "metrics": True,
            "streaming": True,
        },
        "theme": THEME,
    }
