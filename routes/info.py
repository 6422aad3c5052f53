"""The core surface's information endpoints: GET /, /health, /models."""

from flask import Blueprint, current_app

from upstream.client import chat_client

bp = Blueprint("info", __name__)

SERVICE_NAME = "OpenAI Chat API"
VERSION = "1.0.0"


def endpoint_map() -> dict[str, str]:
    """Every public endpoint with the first line of its view's docstring, read from the URL map."""
    endpoints = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        view = current_app.view_functions[rule.endpoint]
        if rule.endpoint.endswith("static") or not view.__doc__ or getattr(view, "openapi_hidden", False):
            continue
        summary = view.__doc__.strip().splitlines()[0].rstrip(".")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            endpoints[f"{method} {rule.rule}"] = summary
    return endpoints


@bp.get("/")
def index():
    """Show API information and available endpoints."""
    return {
        "name": SERVICE_NAME,
        "version": VERSION,
        "description": "REST API for OpenAI GPT models",
        "endpoints": endpoint_map(),
        "documentation": "See README.md for usage examples",
    }


@bp.get("/health")
def health():
    """Check API health status."""
    settings = chat_client().settings
    return {
        "status": "healthy",
        "service": SERVICE_NAME,
        "provider": "OpenAI",
        "upstream_key_configured": bool(settings.openai_api_key),
    }


@bp.get("/models")
def list_models():
    """List available models."""
    catalogue = chat_client().catalogue
    return {"models": list(catalogue.names), "default": catalogue.default}
