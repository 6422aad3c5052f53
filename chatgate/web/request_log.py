"""Request ids and logs: one line per request, an id on every line, never a key or a message."""

from __future__ import annotations

import contextvars
import datetime
import logging
import re
import time
import uuid

import orjson
from flask import Flask, g, has_request_context, request

from chatgate.config import Settings
from chatgate.telemetry import current_trace_id

access_log = logging.getLogger("access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HANDLER_MARK = "_chat_api_handler"


# A context variable rather than `g`: a resumable stream's producer runs in a copy of its request's context
# (contextvars.copy_context) and so logs under its id without copying any request state.
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get() if has_request_context() else "-"


def trace_headers() -> dict[str, str]:
    """Headers that carry this request's id upstream, so one id finds a call in both logs."""
    request_id = current_request_id()
    return {"X-Request-ID": request_id} if request_id != "-" else {}


def _iso_time(record: logging.LogRecord) -> str:
    return datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


# Ids in paths (sessions, streams) are the keys to what they name: the log keeps a prefix, never the whole.
_LONG_ID = re.compile(r"(?<=/)([A-Za-z0-9_-]{8})[A-Za-z0-9_-]{12,}")
# Control characters, and what some viewers take for a line's end: NEL (U+0085) and the other C1 controls, and the
# line and paragraph separators (U+2028, U+2029).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    """`text` with every control character and line separator escaped (`\\x0a`, `\\u2028`): it stays one line."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    """One line per record: control characters in the message (a `%0a` in a path, say) are escaped,
    so that no request can write a line of its own into the log."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_time(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _iso_time(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # JSON escapes the C0 controls; the C1 ones and the line separators it leaves raw, and some collectors
        # split lines on them.
        return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", orjson.dumps(entry).decode())


def configure_logging(settings: Settings) -> None:
    """Install one handler on the root logger (once per process) in the configured format."""
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    # The HTTP client logs every upstream call at INFO; our own access line is enough.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    handler = next((h for h in root.handlers if getattr(h, _HANDLER_MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        setattr(handler, _HANDLER_MARK, True)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())


def loggable_path(path: str) -> str:
    """`path` with every id-like segment cut to its first eight characters."""
    return _LONG_ID.sub(r"\1…", path)


def init_app(app: Flask, settings: Settings) -> None:
    """Give every request an id and log one line when its response is ready."""
    configure_logging(settings)

    def start_request():
        given = request.headers.get("X-Request-ID", "")
        _request_id.set(given if _SAFE_ID.match(given) else uuid.uuid4().hex)
        g.started = time.perf_counter()

    # First of all before-request functions, whatever registers later: a request refused by
    # the guard still has its id and its timing.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = current_request_id()
        duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        path = loggable_path(request.path)
        fields = {
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round(duration_ms, 2),
        }
        if trace_id := current_trace_id():
            fields["trace_id"] = trace_id  # the line leads to its trace
        access_log.info(
            "%s %s %s %.1fms", request.method, path, response.status_code, duration_ms, extra={"fields": fields}
        )
        return response
