"""With Redis a network hop away, a call's request limit, token budget and usage cost at most three round trips
(admission, reservation, and the call's end together), and every figure still arrives."""

import pytest
import redis

from chatgate.storage.redis.trip import one_trip, send_or_queue
from tests.support.keys import secret
from tests.support.redis_relay import DelayingRelay
from tests.support.servers import free_port

TOKEN = secret("tok-trips-" + "7" * 30)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = {"message": "hi"}
CALLS = 5


@pytest.fixture
def relay(redis_server, redis_url):
    return DelayingRelay(redis_server.port, 0.0)  # its thread ends with the tests


def test_a_call_makes_at_most_three_round_trips_and_every_figure_arrives(make_app, relay):
    app = make_app(redis_url=relay.url, api_tokens=(TOKEN,), rate_limit="100/minute", token_limit="100000/minute")
    client = app.test_client()
    first = client.post("/chat", json=CHAT, headers=AUTH)  # scripts loaded, the token's address written
    assert first.status_code == 200
    before = relay.round_trips
    answers = [client.post("/chat", json=CHAT, headers=AUTH) for _ in range(CALLS)]
    trips = relay.round_trips - before
    assert [answer.status_code for answer in answers] == [200] * CALLS
    assert trips <= 3 * CALLS
    # Each call's settlement arrived: the budget drops by what the call before spent, not by what it reserved.
    spent = first.get_json()["usage"]["total_tokens"]
    remaining = [int(a.headers["X-RateLimit-Remaining-Tokens"]) for a in (first, *answers)]
    assert [earlier - later for earlier, later in zip(remaining, remaining[1:], strict=False)] == [spent] * CALLS
    # The request limit counted each call, and the ledger has every call on file.
    assert int(answers[-1].headers["X-RateLimit-Remaining"]) == 100 - (CALLS + 1)
    usage = client.get("/usage", headers=AUTH).get_json()["usage"]
    assert sum(entry["calls"] for entry in usage.values()) == CALLS + 1


def test_writes_that_travel_together_and_are_lost_say_so_each_in_its_own_way(caplog):
    down = redis.Redis(port=free_port(), socket_connect_timeout=1)  # nothing listens there
    lost = []
    with one_trip(down):  # the block's caller never sees the failure: its answer was made
        send_or_queue(down, lambda pipe: pipe.incr("usage"), "a call's usage", if_lost=lambda: lost.append("held"))
        send_or_queue(down, lambda pipe: pipe.incr("budget"), "a budget's settlement")
    assert lost == ["held"]
    assert "storage unavailable, not recorded: a budget's settlement" in caplog.text
    with pytest.raises(redis.exceptions.ConnectionError):  # alone, a write fails where it is made
        send_or_queue(down, lambda pipe: pipe.incr("usage"), "a call's usage")


@pytest.mark.parametrize("path", ["/chat", "/chat/stream"])
def test_a_cache_miss_costs_at_most_one_round_trip_more_than_caching_off(make_app, relay, path):
    limits = {
        "redis_url": relay.url,
        "api_tokens": (TOKEN,),
        "rate_limit": "100/minute",
        "token_limit": "100000/minute",
    }

    def trips_per_call(app, label: str) -> float:
        client = app.test_client()
        assert client.post(path, json={"message": f"{label} warm"}, headers=AUTH).status_code == 200
        before = relay.round_trips
        for number in range(CALLS):  # each a question not asked before: a miss
            answer = client.post(path, json={"message": f"{label} {number}"}, headers=AUTH)
            assert answer.status_code == 200 and answer.get_data()
            assert answer.headers.get("X-Cache", "MISS") == "MISS"
        return (relay.round_trips - before) / CALLS

    off = trips_per_call(make_app(**limits), f"off {path}")
    on = trips_per_call(make_app(**limits, cache_ttl=3600), f"on {path}")
    assert on <= off + 1, f"{on} round trips a call with the cache, {off} without"
