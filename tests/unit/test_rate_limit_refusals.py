"""The 429's Retry-After: the time left in the window, at least a second; a call that can never fit is told to
wait a whole window when none is open, and SDKs are told not to retry it."""

import time

from limits import parse

from chatgate.guard.rate_limits import _refusal

PER_MINUTE = parse("10/minute")


def advice(refusal) -> tuple[str, str | None]:
    headers = dict(refusal.headers)
    return headers["Retry-After"], headers.get("x-should-retry")


def test_a_refusal_says_the_seconds_left_in_its_window_rounded_up():
    assert advice(_refusal("requests", PER_MINUTE, {}, time.time() + 5.2)) == ("6", None)


def test_a_window_about_to_end_still_says_one_second_never_zero():
    assert advice(_refusal("requests", PER_MINUTE, {}, time.time() + 0.3)) == ("1", None)
    assert advice(_refusal("requests", PER_MINUTE, {}, time.time() - 3)) == ("1", None)


def test_a_call_that_can_never_fit_is_not_to_be_retried():
    assert advice(_refusal("tokens", PER_MINUTE, {}, time.time() + 5.2, never_fits=True)) == ("6", "false")
    assert advice(_refusal("tokens", PER_MINUTE, {}, time.time() + 0.3, never_fits=True)) == ("1", "false")


def test_a_call_that_can_never_fit_with_no_window_open_waits_a_whole_period():
    assert advice(_refusal("tokens", PER_MINUTE, {}, 0.0, never_fits=True)) == ("60", "false")


def test_the_limit_headers_ride_along():
    refusal = _refusal("requests", PER_MINUTE, {"X-RateLimit-Limit-Requests": "10"}, time.time() + 5.2)
    assert dict(refusal.headers)["X-RateLimit-Limit-Requests"] == "10"
