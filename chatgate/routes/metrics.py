"""GET /metrics: Prometheus metrics, summed over every worker."""

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from chatgate.config import current_settings
from chatgate.guard.metrics import exposition

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    """Show Prometheus metrics."""
    # content_type, not mimetype: Flask would add a second charset to the one the constant has.
    return Response(exposition(current_settings()), content_type=CONTENT_TYPE_LATEST)
