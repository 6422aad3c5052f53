"""Limits and metrics under real gunicorn with two workers: exact across processes."""

import concurrent.futures
import json
import re
import urllib.error
import urllib.request

from tests.support.keys import secret
from tests.support.processes import gunicorn, service_env

TOKEN = secret("tok-live-" + "9" * 30)
CHAT = {"message": "hi"}  # RATE_LIMIT counts what spends the key


def get(url: str, headers: dict | None = None, body: dict | None = None) -> tuple[int, dict, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={**(headers or {}), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_burst_across_two_workers_admits_exactly_the_limit(upstream, tmp_path):
    env = service_env(upstream.base_url, RATE_LIMIT="25/minute", API_TOKENS=TOKEN, DB_PATH=str(tmp_path / "db.sqlite3"))
    with gunicorn(tmp_path, env, "--workers", "2") as server, concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: get(f"{server.url}/chat", {"X-API-Key": TOKEN}, CHAT), range(100)))
        log = server.log()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 25 + [429] * 75
    pids = set(re.findall(r"Booting worker with pid: (\d+)", log))
    assert len(pids) == 2
    assert TOKEN not in log


def test_metrics_sum_over_both_workers(upstream, tmp_path):
    env = service_env(upstream.base_url, DB_PATH=str(tmp_path / "db.sqlite3"))
    with gunicorn(tmp_path, env, "--workers", "2") as server, concurrent.futures.ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda _: get(f"{server.url}/models"), range(60)))
        status, headers, text = get(f"{server.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    match = re.search(r'^chat_api_requests_total\{method="GET",route="/models",status="200"\} ([0-9.]+)$', text, re.M)
    assert match and float(match.group(1)) == 60.0


def test_burst_across_two_instances_sharing_redis_admits_exactly_the_limit(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, RATE_LIMIT="30/minute", API_TOKENS=TOKEN, REDIS_URL=redis_url)
    with (
        gunicorn(tmp_path, env, "--workers", "2") as first,
        gunicorn(tmp_path, env, "--workers", "2") as second,
        concurrent.futures.ThreadPoolExecutor(40) as pool,
    ):
        urls = [f"{server.url}/chat" for server in (first, second)] * 60
        results = list(pool.map(lambda url: get(url, {"X-API-Key": TOKEN}, CHAT), urls))
    statuses = [status for status, _, _ in results]
    # Separate counters would admit 30 on each instance; one shared counter admits 30 in all.
    assert statuses.count(200) == 30 and statuses.count(429) == 90
    for server in (first, second):
        assert any(status == 429 for url, status in zip(urls, statuses, strict=True) if url.startswith(server.url))


def test_a_token_budget_on_redis_holds_against_absurd_reservations(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, TOKEN_LIMIT="2000/hour", API_TOKENS=TOKEN, REDIS_URL=redis_url)
    auth = {"X-API-Key": TOKEN}
    small = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    with gunicorn(tmp_path, env, "--workers", "2") as server:
        url = f"{server.url}/v1/chat/completions"
        assert get(url, auth, small)[0] == 200
        huge = [get(url, auth, {**small, "max_tokens": 2**31 - 1, "n": 128}) for _ in range(3)]
        overflow = get(url, auth, {**small, "max_tokens": 2**63 - 1})
        after = get(url, auth, small)
    assert [status for status, _, _ in huge] == [429] * 3
    left = {headers["X-RateLimit-Remaining-Tokens"] for _, headers, _ in huge}
    assert len(left) == 1  # nothing spent, nothing refunded
    assert overflow[0] == 400 and json.loads(overflow[2])["error"]["param"] == "max_tokens"
    assert after[0] == 200 and int(after[1]["X-RateLimit-Remaining-Tokens"]) == int(left.pop()) - 11
