"""What an upstream's failure becomes: the SDK's exceptions and the upstream's statuses mapped, by table, to our
own errors (as httpx maps its transport's exceptions to its own), to one word for metrics and logs, and to
whether another attempt is worth it."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from typing import Any

import openai
import orjson

from chatgate.errors import ApiError, BadRequest, RateLimited, Unauthorized, UpstreamFailed, UpstreamTimeout, redact

# Worth another attempt: the upstream was unreachable, or failed with a 5xx, before any byte of an answer.
# Not a 429: the caller gets it at once with its Retry-After and decides (its SDK retries by itself, and
# its retries multiply with ours).
RETRY_STATUSES = frozenset({500, 502, 503, 504})

# An upstream status -> what it is called (`cause_of`): the first row whose statuses hold it.
_CAUSES: tuple[tuple[Callable[[int], bool], str], ...] = (
    (lambda status: status == 429, "rate_limited"),
    (lambda status: status in (401, 403), "rejected_key"),
    (lambda status: status < 500, "rejected_request"),
    (lambda status: True, "server_error"),
)


def cause_of(exc: openai.APIError) -> str:
    """One word for an attempt's failure: unreachable, bad_answer, rate_limited, rejected_key, ..."""
    if isinstance(exc, openai.APIConnectionError):
        return "unreachable"
    if not isinstance(exc, openai.APIStatusError):
        return "bad_answer"
    return next(cause for holds, cause in _CAUSES if holds(exc.status_code))


def worth_retrying(exc: openai.APIError) -> bool:
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code in RETRY_STATUSES


def timed_out(seconds: float) -> UpstreamTimeout:
    return UpstreamTimeout(f"The upstream did not answer within {seconds:g} s.")


def translate(exc: openai.APIError, client_key: bool, timeout: float, longest_rest: float) -> ApiError:
    """Our error for an SDK failure: a caller's own key rejected is theirs (401), the server's is ours (502)."""
    if isinstance(exc, openai.APITimeoutError):
        return timed_out(timeout)
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamFailed("The upstream could not be reached.")
    if not isinstance(exc, openai.APIStatusError):
        return UpstreamFailed("The upstream's answer could not be understood.")
    return _status_error(exc, client_key, longest_rest)


def _status_error(exc: openai.APIStatusError, client_key: bool, longest_rest: float) -> ApiError:
    said, status = _Said(exc), exc.status_code
    fields = said.fields
    if status == 429:
        if request_too_large(exc):  # it can never fit: no Retry-After invites a useless retry
            return RateLimited(said("The request is too large for the upstream's limit"), **fields)
        seconds = retry_after(exc)
        wait = str(math.ceil(min(seconds, longest_rest))) if seconds is not None else None
        headers = {"Retry-After": wait} if wait else None
        return RateLimited(said("The upstream is rate limiting requests"), headers=headers, **fields)
    if status in (401, 403):
        if client_key:
            return Unauthorized(said("The upstream rejected the API key"), status=status, **fields)
        return UpstreamFailed(said("The upstream rejected the server's API key"))
    if status in (400, 404, 409, 413, 422):
        return BadRequest(said("The upstream rejected the request"), status=status, **fields)
    return UpstreamFailed(said(f"The upstream failed with status {status}", named_status=True))


class _Said:
    """Our sentence for an upstream's failure, then the upstream's own message; without one, its status and its
    request id, once."""

    def __init__(self, exc: openai.APIStatusError):
        self.status, self.upstream = exc.status_code, error_fields(exc)
        self.fields = {key: self.upstream.get(key) for key in ("code", "param", "type")}
        request_id = upstream_request_id(exc)
        self.traced = f"upstream request id {request_id}" if request_id != "-" else ""

    def __call__(self, what: str, named_status: bool = False) -> str:
        if self.upstream.get("message"):
            return f"{what}: {redact(self.upstream['message'])}"
        told = ([] if named_status else [f"status {self.status}"]) + ([self.traced] if self.traced else [])
        return f"{what} ({', '.join(told)})." if told else f"{what}."


def retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the upstream asked for: Retry-After (seconds or an HTTP date), else its x-ratelimit-reset-*
    headers; None when none of them is a finite number of seconds ahead."""
    headers = exc.response.headers
    for name in ("retry-after", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = (headers.get(name) or "").strip()
        try:
            seconds: float | None = float(value.removesuffix("s"))
        except ValueError:
            seconds = _seconds_until(value) if name == "retry-after" else None
        if seconds is not None and math.isfinite(seconds) and seconds > 0:
            return seconds
    return None


def _seconds_until(http_date: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(http_date).timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None


def request_too_large(exc: openai.APIError) -> bool:
    """A 429 that says this request alone is over the upstream's limit (OpenAI's "Request too large"): it can
    never fit, so it is the caller's answer, never a reason to rest or to try elsewhere."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 429:
        return False
    return "request too large" in (error_fields(exc).get("message") or "").lower()


def upstream_request_id(exc: openai.APIError) -> str:
    response = getattr(exc, "response", None)
    return (response.headers.get("x-request-id") if response is not None else None) or "-"


def _event_stream_error(text: str) -> object:
    """The JSON of the first `data:` line of an error sent as an event stream, if it has one."""
    for line in text.splitlines():
        if line.startswith("data:"):
            try:
                return orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                return None
    return None


def error_fields(exc: openai.APIStatusError) -> dict[str, Any]:
    """The upstream's error object (message, type, code, param), from JSON or an event stream; {} for none."""
    body = exc.body
    if isinstance(body, str):  # not JSON: perhaps an event stream carrying the error, else HTML or text
        body = _event_stream_error(body)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return {}
    fields = ("message", "type", "code", "param")
    return {k: (str(v) if v is not None else None) for k, v in body.items() if k in fields}
