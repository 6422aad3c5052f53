"""OpenAI's embeddings on /v1, from the embedding models of the catalogue."""

from __future__ import annotations

import orjson
from flask import Blueprint, current_app

from chatgate.cache import BYPASS, response_cache
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
    cached = response_cache()
    lookup = cached.lookup("embeddings", payload) if cached else BYPASS
    if lookup.found:  # answered again: no upstream, no budget
        return current_app.json.response(orjson.loads(lookup.found.body)), lookup.headers()
    try:
        answer = upstream_client().embed(payload, credentials().upstream_key())
        if cached:
            cached.keep(lookup, orjson.dumps(answer.body))
    finally:
        if cached:
            cached.land(lookup)
    return current_app.json.response(answer.body), {**answer.headers, **(lookup.headers() if cached else {})}
