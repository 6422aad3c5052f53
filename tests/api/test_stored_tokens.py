"""Service tokens kept in storage and managed with `flask tokens`: made, used, limited, revoked, no restart."""

import dataclasses

import pytest

from chatgate.errors import Unauthorized
from chatgate.guard.access import admit_again, current_caller, current_policy
from tests.support.keys import secret


@pytest.fixture
def app(make_app):
    return make_app()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["tokens", *args])
    return result.exit_code, result.output.strip()


def made(app, name, *options) -> str:
    code, token = cli(app, "create", name, *options)
    assert code == 0, token
    return secret(token)


def chat(client, token, model="gpt-4o-mini"):
    return client.post("/chat", json={"message": "hi", "model": model}, headers={"Authorization": f"Bearer {token}"})


def test_a_created_token_closes_the_service_and_opens_it_to_its_holder(app, upstream):
    client = app.test_client()
    assert client.post("/chat", json={"message": "hi"}).status_code == 200  # open: no token anywhere yet
    token = made(app, "mobile-app")
    assert token.startswith("cat_") and len(token) > 40
    assert client.post("/chat", json={"message": "hi"}).status_code == 401
    assert chat(client, token).status_code == 200
    assert client.get("/usage", headers={"X-API-Key": token}).get_json()["caller"] == "token:mobile-app"


def test_only_a_hash_is_kept_and_the_list_shows_no_token(app, settings):
    token = made(app, "ci", "--expires", "30d", "--rate-limit", "60/minute", "--models", "gpt-4o-mini,gpt-4.1")
    code, listing = cli(app, "list")
    assert code == 0 and listing.startswith("ci\tactive\texpires 20") and "rate 60/minute" in listing
    assert "models gpt-4o-mini,gpt-4.1" in listing and token not in listing
    with open(settings.db_path, "rb") as stored:
        assert token.encode() not in stored.read()


def test_revoking_takes_effect_without_a_restart(app, upstream):
    client = app.test_client()
    token = made(app, "laptop")
    assert chat(client, token).status_code == 200
    assert cli(app, "revoke", "laptop") == (0, "revoked laptop")
    assert chat(client, token).status_code == 401
    assert cli(app, "revoke", "laptop")[0] != 0


def test_a_tokens_own_limits_and_models(app, upstream):
    client = app.test_client()
    limited, narrow = made(app, "limited", "--rate-limit", "2/minute"), made(app, "narrow", "--models", "gpt-4o-mini")
    assert [chat(client, limited).status_code for _ in range(3)] == [200, 200, 429]
    assert chat(client, narrow).status_code == 200 and chat(client, narrow).status_code == 200  # no RATE_LIMIT
    refused = chat(client, narrow, model="gpt-4o")
    assert refused.status_code == 403 and "may use only these models: gpt-4o-mini" in refused.get_json()["error"]
    assert len(upstream.chat_requests()) == 4


def test_an_expired_token_is_refused(app, upstream):
    token = made(app, "brief", "--expires", "1")
    store = app.extensions["token_registry"].store
    stored = store.listing()[0]
    store.backend.replace(dataclasses.replace(stored, expires_at=stored.created_at - 1))  # as time would
    store._read_at = float("-inf")
    assert chat(app.test_client(), token).status_code == 401


@pytest.mark.parametrize(
    "args, message",
    [
        (("create", "bad name!"), "a token's name is 1 to 64"),
        (("create", "x", "--rate-limit", "often"), "not a limit such as 60/minute"),
        (("create", "x", "--expires", "soon"), "not a duration such as 30d"),
    ],
)
def test_bad_arguments_are_said_plainly(app, args, message):
    code, output = cli(app, *args)
    assert code != 0 and message in output


def test_a_name_is_taken_once(app):
    made(app, "twice")
    code, output = cli(app, "create", "twice")
    assert code != 0 and "exists already" in output


def test_a_resumable_stream_is_charged_to_its_token_after_its_client_left(app, upstream, caplog):
    client = app.test_client()
    token = made(app, "streamer", "--token-limit", "5000/hour")
    headers = {"Authorization": f"Bearer {token}", "X-Resumable": "true", "X-Request-ID": "req-resumable-1"}
    first = client.post("/chat/stream", json={"message": "hi", "max_tokens": 50}, headers=headers, buffered=False)
    assert first.headers["X-RateLimit-Remaining-Tokens"] == str(5000 - 51)  # the hook's headers reached the answer
    stream_id = first.headers["X-Stream-ID"]
    first.close()  # the producer finishes alone, outside any request
    client.get(f"/streams/{stream_id}", headers={"Authorization": f"Bearer {token}"}).get_data()
    usage = client.get("/usage", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert usage["caller"] == "token:streamer" and usage["usage"]["gpt-4o-mini"]["calls"] == 1
    ended = next(r for r in caplog.records if r.name == "streams")
    assert ended.fields["caller"] == "token:streamer" and ended.request_id == "req-resumable-1"
    budget = chat(client, token)
    spent = usage["usage"]["gpt-4o-mini"]["total_tokens"]
    assert budget.headers["X-RateLimit-Remaining-Tokens"] == str(5000 - spent - (1 + 1024))  # settled exactly


def test_with_every_token_revoked_the_start_says_so_and_reopen_opens_keeping_sessions_and_usage(
    make_app, upstream, caplog
):
    app = make_app()
    client = app.test_client()
    session = client.post("/api/sessions", json={"developer_message": "be brief"}).get_json()["session_id"]
    assert client.post("/chat", json={"message": "hi"}).status_code == 200  # open: ip's usage
    made(app, "only")
    assert cli(app, "revoke", "only") == (0, "revoked only")
    caplog.clear()
    again = make_app()  # a start with the same storage
    said = caplog.text
    assert "Every stored token (1) is revoked or expired" in said and "API_TOKENS is not set" not in said
    assert again.test_client().post("/chat", json={"message": "hi"}).status_code == 401
    code, output = cli(again, "reopen")
    assert code == 0 and "forgot 1" in output and "the service is open" in output
    reopened = again.test_client()
    assert reopened.post("/chat", json={"message": "hi"}).status_code == 200
    assert reopened.get(f"/api/sessions/{session}").status_code == 200
    assert reopened.get("/usage").get_json()["usage"]["gpt-4o-mini"]["calls"] == 2
    assert cli(again, "list") == (0, "")


def test_reopen_keeps_access_control_while_a_usable_token_remains(app, upstream):
    made(app, "gone")
    token = made(app, "kept")
    cli(app, "revoke", "gone")
    code, output = cli(app, "reopen")
    assert code == 0 and "forgot 1" in output and "access control stays on" in output
    assert app.test_client().post("/chat", json={"message": "hi"}).status_code == 401
    assert chat(app.test_client(), token).status_code == 200


def test_a_request_that_carries_many_calls_admits_its_caller_again_before_each(app, upstream):
    """An open WebSocket (tests/live/test_responses_websocket.py) asks before each response: a token revoked since
    the request began is refused from its next call."""
    token = made(app, "agent")
    with app.test_request_context("/v1/responses", headers={"Authorization": f"Bearer {token}"}):
        app.preprocess_request()  # admitted at the start
        admit_again()
        assert current_caller() == "token:agent" and current_policy().name == "agent"
        assert cli(app, "revoke", "agent")[0] == 0
        with pytest.raises(Unauthorized):
            admit_again()
