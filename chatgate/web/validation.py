"""Request bodies validated at the edge by pydantic models, with one error path."""

from __future__ import annotations

import functools
from typing import Annotated

import orjson
from flask import g, request
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from chatgate.config import current_settings
from chatgate.errors import BadRequest, InvalidBody, UnsupportedMediaType
from chatgate.web.body import read_body

INT64 = (-(2**63), 2**63 - 1)  # what the upstream (and orjson) can take; 1e300 is no integer anyone serves
MAX_DEPTH = 64  # nesting of a request body; far deeper than any real request, far below orjson's limit


EXACT_FLOAT = 2**53  # beyond it a float is no longer the integer that was written (orjson reads 2**64 as one)


def _whole_float_to_int(value):
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT:
        return int(value)
    return value


def json_int(**constraints):
    """An integer as JSON Schema means it: 3 and 3.0 are the same integer, "3" and true are not.

    Integers are 64-bit unless the constraints say narrower. The constraints (ge, le...)
    go before the validator, or they vanish from the JSON schema.
    """
    constraints = {"ge": INT64[0], "le": INT64[1], **constraints}
    return Annotated[int, Field(**constraints), BeforeValidator(_whole_float_to_int)]


JsonInt = json_int()


def describe(error: dict) -> str:
    """One sentence for one pydantic error, naming the field."""
    field = ".".join(str(part) for part in error["loc"])
    text = error["msg"].removeprefix("Value error, ")
    return f"'{field}': {text}" if field else text


def read_json_object() -> dict:
    """The request's JSON object, or the right 400/415 when it is missing or malformed."""
    if not request.is_json:
        raise UnsupportedMediaType()
    raw = read_body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.", code="json_invalid") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages, most = data.get("messages"), current_settings().max_messages
    if isinstance(messages, list) and len(messages) > most:  # before anything walks them
        raise BadRequest(
            f"'messages' has {len(messages)} messages; at most {most} are allowed in one request (MAX_MESSAGES).",
            param="messages",
        )
    if _depth(data) > MAX_DEPTH:
        raise BadRequest(f"The request body is nested more than {MAX_DEPTH} levels deep.")
    return data


def _depth(value) -> int:
    """How deeply `value` nests, found without recursion (a hostile body may nest thousands deep)."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the request's JSON body against `model`."""
    return validated(model, read_json_object())


def validated(model: type[BaseModel], data: dict) -> BaseModel:
    """`data` as `model`, or the one error path of a bad body. The model it names is noted for the call's record."""
    if isinstance(named := data.get("model"), str):
        g.requested_model = named
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0]
        message = f"Invalid request body: {describe(first)}."
        kind = type(exc.errors(include_url=False)[0].get("input")).__name__
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidBody(message, errors, param=param, input_kind=kind) from None


def json_body(model: type[BaseModel]):
    """Decorate a view: validate the body against `model` and pass it as `body`.

    The model is kept on the view (`body_model`), so the OpenAPI document is built
    from the very model that validates the request.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            return view(*args, body=parse_body(model), **kwargs)

        wrapper.body_model = model
        return wrapper

    return decorate


def json_body_either(usual: type[BaseModel], other: type[BaseModel], is_other):
    """Decorate a view that takes one of two bodies, told apart by `is_other(data)`: one path, two contracts."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            data = read_json_object()
            return view(*args, body=validated(other if is_other(data) else usual, data), **kwargs)

        wrapper.body_model = usual
        wrapper.body_models = (usual, other)
        return wrapper

    return decorate
