"""The OpenAPI 3.1 document, built from the app's routes and the pydantic models that validate them.

Views declare what the spec cannot see in the code with `@documented`; request
bodies come from `view.body_model` (set by `@json_body`), so the document and the
validation cannot drift. Each operation's error model is its surface's `ErrorShape`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from chatgate.config import SERVICE_NAME, VERSION
from chatgate.errors import ErrorShapes
from chatgate.guard.access import is_public

# A path parameter in werkzeug's syntax: <name> or <converter:name>.
_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


# Marks a request field that takes a model name: the document lists this deployment's catalogue there.
CATALOGUE_MODEL = {"x-catalogue-model": True}


@dataclasses.dataclass(frozen=True)
class EventFrames:
    """What each event of a Server-Sent Events stream is: its `data` is JSON matching `data` (or, with `done`, the
    final `[DONE]`). The document describes each event with OpenAPI 3.2's `itemSchema`, so that a validator
    checks every frame; `text` says the same in words."""

    text: str
    data: dict
    done: bool = False

    def item_schema(self) -> dict:
        json_data = {"type": "string", "contentMediaType": "application/json", "contentSchema": self.data}
        return {
            "type": "object",
            "description": self.text,
            "required": ["data"],
            "properties": {
                "data": {"anyOf": [json_data, {"const": "[DONE]"}]} if self.done else json_data,
                "event": {"type": "string"},
                "id": {"type": "string"},
            },
        }


def documented(
    *,
    responses: dict | None = None,
    summary: str | None = None,
    tags: list[str] | None = None,
    streams: str | None = None,
    frames: str | EventFrames | None = None,
    also_streams: tuple[str, EventFrames] | None = None,
    query: dict[str, dict] | None = None,
):
    """Decorate a view with what the OpenAPI document should say about it.

    `responses` maps a status code to a pydantic model, a JSON-schema dict, `dict` (any JSON object), a media
    type string, or a tuple of those (an answer in any of them); `streams` names the media type of a streamed
    200, and `frames` says what its frames are (in words for a text stream, as EventFrames for an event stream);
    `query` maps each query parameter to its JSON schema. Applied above or below `@json_body`: functools.wraps
    copies it.
    """

    def attach(view):
        view.openapi = {
            "responses": responses or {},
            "summary": summary,
            "tags": tags or [],
            "streams": streams,
            "frames": frames,
            "also_streams": also_streams,
            "query": query or {},
        }
        return view

    return attach


def hidden(view):
    """Keep a view (a static asset, say) out of the OpenAPI document and the endpoint map."""
    view.openapi_hidden = True
    return view


_TAGS_KEY = "openapi_tags"


def tag_blueprints(app: Flask, tag_of: dict[str, str]) -> None:
    """Name each blueprint's operations in the document (blueprint name -> tag, in the order to list them)."""
    app.extensions[_TAGS_KEY] = tag_of


def operations(app: Flask) -> Iterator[tuple[Rule, str, object]]:
    """Every documented operation of `app` as (rule, method, view), by path: the one walk of the URL map."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint.endswith("static") or getattr(view, "openapi_hidden", False):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, view


def summary_of(view, fallback: str = "") -> str:
    """The first line of a view's docstring, which the index and the document both show."""
    lines = (view.__doc__ or "").strip().splitlines()
    return lines[0].rstrip(".") if lines else fallback


class _SpecBuilder:
    def __init__(self, app: Flask, shapes: ErrorShapes, model_names: tuple[str, ...]):
        self.app = app
        self.shapes = shapes
        self.model_names = list(model_names)
        self.tag_of: dict[str, str] = app.extensions.get(_TAGS_KEY, {})
        self.schemas: dict[str, dict] = {}

    def ref(self, model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        self.schemas.update(schema.pop("$defs", {}))
        self.schemas[model.__name__] = schema
        for field in schema.get("properties", {}).values():
            if field.pop("x-catalogue-model", False):
                self.list_catalogue(field)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def list_catalogue(self, field: dict) -> None:
        for option in field.get("anyOf", [field]):
            if option.get("type") == "string":
                option["enum"] = self.model_names

    def content(self, what) -> dict:
        if isinstance(what, tuple):  # one answer in any of several media types
            return {media: schema for part in what for media, schema in self.content(part).items()}
        if isinstance(what, str):
            return {what: {"schema": {"type": "string"}}}
        if what is dict:
            return {"application/json": {"schema": {"type": "object"}}}
        if isinstance(what, dict):
            return {"application/json": {"schema": what}}
        return {"application/json": {"schema": self.ref(what)}}

    def operation(self, rule, method: str, view) -> dict:
        declared = getattr(view, "openapi", None) or {
            "responses": {},
            "summary": None,
            "tags": [],
            "streams": None,
            "frames": None,
        }
        lines = (view.__doc__ or "").strip().splitlines()
        operation = {
            "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
            "summary": declared["summary"] or summary_of(view, rule.endpoint),
            "tags": declared["tags"] or [self.tag_of.get(rule.endpoint.split(".")[0], rule.endpoint.split(".")[0])],
        }
        if len(lines) > 1:
            operation["description"] = "\n".join(line.strip() for line in lines[1:]).strip()
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAMETER.findall(rule.rule)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in (declared.get("query") or {}).items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if body_model := getattr(view, "body_model", None):
            models = getattr(view, "body_models", (body_model,))
            media = {"schema": self.ref(body_model) if len(models) == 1 else {"oneOf": [self.ref(m) for m in models]}}
            if examples := (body_model.model_config.get("json_schema_extra") or {}).get("examples"):
                media["example"] = examples[0]  # what Swagger UI fills the body with: a README example
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        responses = {}
        ok = {"description": "Success"}
        if declared["streams"]:
            frames = declared["frames"]
            if isinstance(frames, EventFrames):
                ok["content"] = {declared["streams"]: {"itemSchema": frames.item_schema()}}
                ok["description"] = "Success: a stream. " + frames.text
            else:
                ok["content"] = {declared["streams"]: {"schema": {"type": "string", "description": frames or ""}}}
                ok["description"] = "Success: a stream. " + (frames or "")
            if also := declared.get("also_streams"):  # a second body, answered in a second stream
                media, other = also
                ok["content"][media] = {"itemSchema": other.item_schema()}
                ok["description"] += " For the other body: " + other.text
            if 200 in declared["responses"]:  # a view that answers JSON or a stream, as asked
                ok["content"].update(self.content(declared["responses"][200]))
        elif 200 in declared["responses"]:
            ok["content"] = self.content(declared["responses"][200])
        responses["200"] = ok
        for status, what in declared["responses"].items():
            if status != 200:
                responses[str(status)] = {"description": "Error", "content": self.content(what)}
        responses["default"] = {
            "description": "An error, in this surface's shape",
            "content": self.content(self.shapes.for_path(rule.rule).model),
        }
        operation["responses"] = responses
        if is_public(rule.rule):
            operation["security"] = []
        return operation

    def build(self) -> dict:
        paths: dict[str, dict] = {}
        for rule, method, view in operations(self.app):
            if rule.websocket:  # OpenAPI cannot describe one; docs/surfaces.md does (the index lists it)
                continue
            path = _PARAMETER.sub(r"{\1}", rule.rule)
            paths.setdefault(path, {})[method.lower()] = self.operation(rule, method, view)
        return {
            "openapi": "3.1.0",
            "info": {
                "title": SERVICE_NAME,
                "version": VERSION,
                "description": "OpenAI chat models behind one small REST service: the core `/chat` API, "
                "an OpenAI-compatible `/v1`, server-side sessions under `/api`, and `/ask`. "
                "Try it in the [playground](/playground).",
            },
            "tags": [{"name": tag} for tag in dict.fromkeys(self.tag_of.values())],
            "paths": paths,
            "components": {
                "schemas": self.schemas,
                "securitySchemes": {
                    "bearerToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A service token (API_TOKENS), or on /v1 your own OpenAI key.",
                    },
                    "apiKeyHeader": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-API-Key",
                        "description": "A service token (API_TOKENS).",
                    },
                },
            },
            # Optional: the service is open unless API_TOKENS is set.
            "security": [{}, {"bearerToken": []}, {"apiKeyHeader": []}],
        }


def build_spec(app: Flask, shapes: ErrorShapes, model_names: tuple[str, ...]) -> dict:
    """The OpenAPI 3.1 document of every route `app` serves, each error in its surface's shape."""
    return _SpecBuilder(app, shapes, model_names).build()
