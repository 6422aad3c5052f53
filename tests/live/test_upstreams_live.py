"""Several upstreams across instances: an upstream one instance saw fail rests for every instance sharing Redis."""

from chatgate.app import create_app
from chatgate.config import Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.keys import secret

KEY = secret("sk-upstream-live-" + "4" * 30)
HELLO = [{"role": "user", "content": "hi"}]


def test_two_instances_share_which_upstream_rests_through_redis(tmp_path, redis_url):
    first, second = FakeUpstream().start(), FakeUpstream().start()
    try:
        path = tmp_path / "upstreams.toml"
        path.write_text(
            f'[[upstreams]]\nname = "first"\nbase_url = "{first.base_url}"\napi_key_env = "KEY"\n'
            'models = ["gpt-4o-mini"]\nweight = 1000000\n\n'
            f'[[upstreams]]\nname = "second"\nbase_url = "{second.base_url}"\napi_key_env = "KEY"\n'
            'models = ["gpt-4o-mini"]\n'
        )
        env = {"UPSTREAMS_FILE": str(path), "KEY": KEY, "REDIS_URL": redis_url, "UPSTREAM_TIMEOUT": "2"}
        one, other = (create_app(Settings.from_env(env)).test_client() for _ in range(2))
        body = {"model": "gpt-4o-mini", "messages": HELLO}
        first.queue(status=429, retry_after="60")
        assert one.post("/v1/chat/completions", json=body).status_code == 200  # first said 429; second answered
        assert [other.post("/v1/chat/completions", json=body).status_code for _ in range(5)] == [200] * 5
        assert len(first.chat_requests()) == 1 and len(second.chat_requests()) == 6  # the other instance knew
        ready = other.get("/health/ready").get_json()
        # A 429 rests the model it was about on that upstream, not the whole upstream.
        assert ready["upstreams"]["first"].startswith("ok; rate limited on gpt-4o-mini until")
        assert ready["upstreams"]["second"] == "ok"
    finally:
        first.stop()
        second.stop()
