"""OpenAI's embeddings on /v1, from the embedding models of the catalogue."""

from __future__ import annotations

from flask import Blueprint, current_app

from chatgate.cache import answered
from chatgate.guard.credentials import credentials
from chatgate.guard.rate_limits import spends_key
from chatgate.models import offered_model
from chatgate.routes.schemas.openai import OPENAI_ERRORS
from chatgate.routes.schemas.responses import EmbeddingRequest
from chatgate.upstream import upstream_client
from chatgate.web.openapi import documented
from chatgate.web.validation import json_body

bp = Blueprint("embeddings", __name__)


@bp.post("/embeddings")
@spends_key
@documented(responses={200: dict, **OPENAI_ERRORS})
@json_body(EmbeddingRequest)
def create_embeddings(body: EmbeddingRequest):
    """Create embeddings for a text or a list of texts."""
    offered_model(body.model, "embeddings")
    payload = body.model_dump(exclude_unset=True, exclude_none=True)
    key = credentials().upstream_key()
    answer, headers = answered("embeddings", payload, key, lambda: upstream_client().embed(payload, key))
    return current_app.json.response(answer), headers
