"""The core surface's information endpoints: GET / and /models."""

from flask import Blueprint, current_app

from chatgate.config import SERVICE_NAME, VERSION
from chatgate.models import catalogue
from chatgate.web.openapi import operations, summary_of

bp = Blueprint("info", __name__)


def endpoint_map() -> dict[str, str]:
    """Every endpoint with the first line of its view's docstring, as the OpenAPI document lists them."""
    return {f"{method} {rule.rule}": summary_of(view) for rule, method, view in operations(current_app)}


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


@bp.get("/models")
def list_models():
    """List available models."""
    offered = catalogue()
    return {"models": list(offered.names), "default": offered.default}
