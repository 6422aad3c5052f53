"""Every surface the service answers on: its path prefix, its error shape (the original API's), and its blueprints."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Flask

from chatgate.errors import ErrorShape, ErrorShapes
from chatgate.routes import (
    admin,
    ask,
    chat,
    conversations,
    dashboard,
    docs,
    embeddings,
    health,
    info,
    metrics,
    openai_compat,
    playground,
    responses,
    responses_socket,
    service_info,
    sessions_api,
    streams,
    ui_chat,
    usage,
)
from chatgate.routes.schemas.ask import ASK_ERROR
from chatgate.routes.schemas.core import CORE_ERROR
from chatgate.routes.schemas.openai import OPENAI_ERROR
from chatgate.routes.schemas.sessions import FASTAPI_ERROR
from chatgate.web.openapi import tag_blueprints


@dataclasses.dataclass(frozen=True)
class Surface:
    tag: str  # its name in the API docs, which list the surfaces in this order
    prefix: str
    error_shape: ErrorShape
    blueprints: tuple[Blueprint, ...]


SURFACES = (
    Surface("Core", "/", CORE_ERROR, (info.bp, health.bp, chat.bp, streams.bp)),  # {"error": "<sentence>"}
    # OpenAI's {"error": {"message", "type", "param", "code"}}
    Surface(
        "OpenAI-compatible",
        "/v1",
        OPENAI_ERROR,
        (openai_compat.bp, responses.bp, responses_socket.bp, conversations.bp, embeddings.bp),
    ),
    Surface("Sessions", "/api", FASTAPI_ERROR, (sessions_api.bp, ui_chat.bp)),  # FastAPI's {"detail": ...}
    Surface("Simple backend", "/ask", ASK_ERROR, (ask.bp,)),  # an assistant message and an error code
    Surface(
        "Service",
        "/",
        CORE_ERROR,
        (service_info.bp, usage.bp, metrics.bp, docs.bp, playground.bp, dashboard.bp, admin.bp),
    ),
)
ERROR_SHAPES = ErrorShapes({surface.prefix: surface.error_shape for surface in SURFACES})


def init_app(app: Flask) -> None:
    """Register every surface's blueprints under its prefix, and name each in the API docs."""
    for surface in SURFACES:
        for blueprint in surface.blueprints:
            app.register_blueprint(blueprint, url_prefix=surface.prefix.rstrip("/") or None)
    tag_blueprints(app, {blueprint.name: surface.tag for surface in SURFACES for blueprint in surface.blueprints})
