"""The one error mechanism: error types, secret scrubbing, and per-surface rendering.

Views and services raise `ApiError`s. Each API surface (the core, `/v1`, `/api`,
`/ask`) has an `ErrorShape` for its path prefix that turns an error into that
original JSON shape (`routes/__init__.py` lists them); unknown paths, wrong methods,
oversized bodies and crashes go through the same shapes, so every answer on a
surface has its shape.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# OpenAI keys (sk-..., sk-proj-..., masked forms like sk-abc****wxyz) and bearer tokens.
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{3,}|Bearer\s+\S+)")


def redact(text: str) -> str:
    """Replace anything that looks like a key in `text`, e.g. in an upstream's error message."""
    return _SECRET.sub("[redacted]", text)


_DEFAULT: Any = object()  # a `code` not given: the class's own (None is a code too: OpenAI's null)


class ApiError(Exception):
    """An error answered to the client; `code` and `type` follow OpenAI's vocabulary."""

    status = 500
    code = "internal_error"
    type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = _DEFAULT,
        type: str | None = None,
        param: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status or self.status
        self.code = self.code if code is _DEFAULT else code  # an upstream's null stays null
        self.type = type or self.type
        self.param = param
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code, type = 400, "invalid_request_error", "invalid_request_error"


class InvalidBody(BadRequest):
    """The body parsed but failed validation; `errors` lists each problem (FastAPI style)."""

    def __init__(self, message: str, errors: list[dict], param: str | None = None, input_kind: str | None = None):
        super().__init__(message, param=param)
        self.errors = errors
        self.input_kind = input_kind  # the first problem's value's type (`int`, `str`, `list`...), never the value


class UnsupportedMediaType(ApiError):
    status, code, type = 415, "unsupported_media_type", "invalid_request_error"

    def __init__(self, message: str = "The request body must be JSON, sent with Content-Type: application/json."):
        super().__init__(message)


class BodyTooSlow(ApiError):
    status, code, type = 408, "request_timeout", "invalid_request_error"


class BodyTooLarge(ApiError):
    status, code, type = 413, "request_too_large", "invalid_request_error"


class Unauthorized(ApiError):
    status, code, type = 401, "invalid_api_key", "authentication_error"


class Forbidden(ApiError):
    status, code, type = 403, "permission_denied", "invalid_request_error"


class NotFound(ApiError):
    status, code, type = 404, "not_found", "invalid_request_error"


class UpgradeRequired(ApiError):
    status, code, type = 426, "upgrade_required", "invalid_request_error"


class RateLimited(ApiError):
    status, code, type = 429, "rate_limit_exceeded", "rate_limit_error"


class UpstreamFailed(ApiError):
    status, code, type = 502, "upstream_error", "api_error"


class StorageUnavailable(ApiError):
    status, code, type = 503, "storage_unavailable", "service_unavailable_error"


class UpstreamUnavailable(ApiError):
    status, code, type = 503, "upstream_unavailable", "service_unavailable_error"


class NotConfigured(ApiError):
    status, code, type = 503, "service_unavailable", "service_unavailable_error"


class UpstreamTimeout(ApiError):
    status, code, type = 504, "upstream_timeout", "timeout_error"


Renderer = Callable[[ApiError], tuple[dict, int]]


@dataclasses.dataclass(frozen=True)
class ErrorShape:
    """How one surface answers errors: its renderer, and the pydantic model that documents the shape."""

    render: Renderer
    model: type


class ErrorShapes:
    """Which shape answers for a path: the surface with the longest matching path prefix."""

    def __init__(self, by_prefix: dict[str, ErrorShape]):
        self._by_prefix = by_prefix
        self.fallback = by_prefix["/"]

    def for_path(self, path: str) -> ErrorShape:
        matches = [prefix for prefix in self._by_prefix if path == prefix or path.startswith(prefix.rstrip("/") + "/")]
        return self._by_prefix[max(matches, key=len)] if matches else self.fallback


def too_large() -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than the limit of {current_app.config['MAX_CONTENT_LENGTH']} bytes."
    )


_HTTP_MESSAGES = {
    404: lambda: f"Not found: there is no endpoint at {request.path}.",
    405: lambda: f"Method {request.method} is not allowed on {request.path}.",
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
_KEY = "error_shapes"


def from_http_exception(exc: HTTPException) -> ApiError:
    """Turn werkzeug's routing and size errors into an ApiError with a clear sentence."""
    status = exc.code or 500
    if status == 415:
        return UnsupportedMediaType()
    if status == 413:
        return too_large()
    message = _HTTP_MESSAGES[status]() if status in _HTTP_MESSAGES else (exc.description or exc.name)
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    error_type = "invalid_request_error" if status < 500 else "server_error"
    return ApiError(
        message, status=status, code=_HTTP_CODES.get(status, "http_error"), type=error_type, headers=headers
    )


def error_shapes() -> ErrorShapes:
    """The current app's error shapes, by surface."""
    return current_app.extensions[_KEY]


def error_response(error: ApiError) -> Response:
    """Render `error` in the shape of the surface the current request is on."""
    body, status = error_shapes().for_path(request.path).render(error)
    response = current_app.json.response(body)
    response.status_code = status
    response.headers.update(error.headers)
    return response


STORAGE_RETRY_AFTER = "5"


def init_app(app: Flask, shapes: ErrorShapes, storage_errors: tuple[type[Exception], ...]) -> None:
    """Send every error, expected or not, through the shape of its surface; storage that is down is a 503."""
    app.extensions[_KEY] = shapes

    def handle_storage_down(exc: Exception):
        # One line, no traceback: the cause is outside the service, and it recovers when storage does.
        log.warning("storage unavailable on %s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
        return error_response(
            StorageUnavailable(
                "The service's storage (its database or Redis) is not answering; try again in a few seconds.",
                headers={"Retry-After": STORAGE_RETRY_AFTER},
            )
        )

    for storage_error in storage_errors:
        app.register_error_handler(storage_error, handle_storage_down)

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        return error_response(from_http_exception(exc))

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ApiError("The server hit an unexpected error; it has been logged."))
