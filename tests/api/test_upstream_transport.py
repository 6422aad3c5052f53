"""The lean transport under the SDK: connections kept alive, never reused when in doubt, and failures as before
(the fault tables of the other files run through it too)."""

import ssl
import threading

import httpx2
import pytest
import trustme

from chatgate.upstream.transport import LeanTransport
from tests.support.fake_upstream import FakeUpstream

MESSAGE = {"message": "hi"}


def connections(upstream) -> list:
    return [request.peer for request in upstream.chat_requests()]


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_calls_one_after_another_share_one_connection(make_app, upstream, transport):
    client = make_app(upstream_transport=transport).test_client()
    replies = [client.post("/chat", json=MESSAGE).get_json()["response"] for _ in range(3)]
    assert replies == ["Hello from the fake upstream."] * 3
    assert len(set(connections(upstream))) == 1


def test_a_connection_the_upstream_closed_while_idle_is_not_used_again(client, upstream):
    with upstream.behave(hang_up=True):
        assert client.post("/chat", json=MESSAGE).status_code == 200
    # The fake closes the connection just after its answer: the next call must come after that close, or it can
    # take the connection while it is still open, write to it, and lose the answer (the 502 this test once gave).
    assert upstream.hung_up.wait(10)
    assert client.post("/chat", json=MESSAGE).status_code == 200
    assert len(upstream.chat_requests()) == 2  # each sent once: the second neither failed nor went twice
    assert len(set(connections(upstream))) == 2


def test_a_stream_left_early_does_not_lend_its_connection(client, upstream):
    release = threading.Event()
    with upstream.behave(reply="one two three four", wait_for=release, hold_after=1):
        stream = client.post("/chat/stream", json=MESSAGE, buffered=False)
        assert b"one" in next(iter(stream.response))
        stream.close()  # the caller went away mid-answer: the rest of that answer is never read
        release.set()
    assert client.post("/chat", json=MESSAGE).get_json()["response"] == "Hello from the fake upstream."
    first, second = connections(upstream)
    assert first != second


def test_a_stream_read_to_its_end_gives_its_connection_back(client, upstream):
    assert (
        b"[DONE]"
        in client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ).get_data()
    )
    assert client.post("/chat", json=MESSAGE).status_code == 200
    assert len(set(connections(upstream))) == 1


@pytest.fixture
def tls_upstream(tmp_path):
    """The fake upstream over HTTPS, with a certificate from a throwaway authority; and that authority's file."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    authority_file = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(authority_file))
    fake = FakeUpstream(tls=server).start()
    yield fake, authority_file
    fake.stop()


def test_an_https_upstream_is_trusted_only_with_its_authority_and_kept_alive(make_app, tls_upstream, monkeypatch):
    fake, authority_file = tls_upstream
    forged = make_app(openai_base_url=fake.base_url).test_client()
    assert forged.post("/chat", json=MESSAGE).get_json() == {"error": "The upstream could not be reached."}
    assert fake.chat_requests() == []  # refused at the handshake
    monkeypatch.setenv("SSL_CERT_FILE", str(authority_file))  # as httpx reads it, for a private authority
    client = make_app(openai_base_url=fake.base_url).test_client()
    replies = [client.post("/chat", json=MESSAGE).get_json()["response"] for _ in range(2)]
    assert replies == ["Hello from the fake upstream."] * 2
    assert len(set(connections(fake))) == 1


def test_a_connection_idle_too_long_is_closed_not_reused(upstream):
    with (
        httpx2.Client(transport=LeanTransport(keep_idle=0)) as fresh,
        httpx2.Client(transport=LeanTransport(keep_idle=60)) as kept,
    ):
        for client in (fresh, fresh, kept, kept):
            answer = client.post(f"{upstream.base_url}/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
            assert answer.status_code == 200
    first, second, third, fourth = connections(upstream)
    assert first != second and third == fourth


def _as_sent(request) -> dict[str, str]:
    # The request id differs per call; the read timeout is what was left of UPSTREAM_TIMEOUT.
    skipped = {"x-request-id", "x-stainless-read-timeout", "content-length"}
    return {name.lower(): value for name, value in request.headers.items() if name.lower() not in skipped}


def test_the_direct_path_sends_what_the_sdk_sends(make_app, upstream):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5}
    for transport in ("httpx", "lean"):  # the SDK builds each request; the direct path sends the same
        assert (
            make_app(upstream_transport=transport).test_client().post("/v1/chat/completions", json=body).status_code
            == 200
        )
    by_sdk, direct = upstream.chat_requests()
    assert _as_sent(direct) == _as_sent(by_sdk)
    assert direct.path == by_sdk.path
    assert direct.body == by_sdk.body
    assert float(direct.headers["x-stainless-read-timeout"]) > 0
