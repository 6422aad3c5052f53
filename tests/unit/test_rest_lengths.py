"""A rest's length, whoever asks for it: a finite time ahead as asked, up to UPSTREAM_MAX_REST; anything else the
first back-off. (The client reads Retry-After the same way; this is the router's own guard.)"""

import math

import pytest

from chatgate.config import Settings
from chatgate.upstream.routing import FIRST_REST, Router

ROUTER = Router(Settings(upstream_max_rest=10))


@pytest.mark.parametrize("asked", [None, math.inf, -math.inf, math.nan, 0.0, -3.0])
def test_what_is_no_time_ahead_rests_the_first_back_off(asked):
    assert ROUTER._bounded(asked) == FIRST_REST


@pytest.mark.parametrize("asked, rest", [(0.5, 0.5), (3.0, 3.0), (10.0, 10.0), (11.0, 10.0), (1e12, 10.0)])
def test_a_time_ahead_is_rested_up_to_the_longest_rest(asked, rest):
    assert ROUTER._bounded(asked) == rest
