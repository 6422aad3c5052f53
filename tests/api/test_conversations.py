"""OpenAI's Conversations API, relayed and owned: its maker creates, reads, changes and deletes a conversation and
its items with the official SDK; another caller is told none exists, however the request names it; a response in a
conversation is allowed to its owner only."""

import httpx2
import openai
import pytest

from tests.support.keys import secret

TOKEN_A = secret("tok-conv-a-" + "1" * 30)
TOKEN_B = secret("tok-conv-b-" + "2" * 30)


@pytest.fixture
def app(make_app):
    return make_app(api_tokens=(TOKEN_A, TOKEN_B))


def sdk(app, token: str) -> openai.OpenAI:
    """The official SDK, talking to `app` in this process with `token`."""
    transport = httpx2.WSGITransport(app=app)
    return openai.OpenAI(
        base_url="http://service/v1", api_key=token, max_retries=0, http_client=httpx2.Client(transport=transport)
    )


def test_a_conversation_and_its_items_work_for_its_maker_with_the_sdk(app, upstream):
    mine = sdk(app, TOKEN_A)
    made = mine.conversations.create(
        metadata={"topic": "foxes"}, items=[{"type": "message", "role": "user", "content": "Hello!"}]
    )
    assert made.id.startswith("conv_") and made.metadata == {"topic": "foxes"}
    assert mine.conversations.retrieve(made.id).id == made.id
    assert mine.conversations.update(made.id, metadata={"topic": "dogs"}).metadata == {"topic": "dogs"}
    added = mine.conversations.items.create(
        made.id, items=[{"type": "message", "role": "user", "content": "And wolves?"}]
    )
    listed = mine.conversations.items.list(made.id, limit=10)
    assert [item.id for item in listed.data][-1] == added.data[0].id and len(listed.data) == 2
    assert upstream.requests_to("GET", "/items")[-1].path.endswith("/items?limit=10")  # the query as sent
    item = mine.conversations.items.retrieve(added.data[0].id, conversation_id=made.id)
    assert item.id == added.data[0].id
    mine.conversations.items.delete(added.data[0].id, conversation_id=made.id)
    assert len(mine.conversations.items.list(made.id).data) == 1
    assert mine.conversations.delete(made.id).deleted is True


def test_another_callers_conversation_does_not_exist_here(app, upstream):
    made = sdk(app, TOKEN_A).conversations.create()
    theirs = sdk(app, TOKEN_B)
    reads = len(upstream.requests)
    for attempt in (
        lambda: theirs.conversations.retrieve(made.id),
        lambda: theirs.conversations.update(made.id, metadata={"x": "y"}),
        lambda: theirs.conversations.delete(made.id),
        lambda: theirs.conversations.items.list(made.id),
        lambda: theirs.conversations.items.create(made.id, items=[]),
        lambda: theirs.conversations.items.retrieve("msg_1", conversation_id=made.id),
        lambda: theirs.conversations.items.delete("msg_1", conversation_id=made.id),
        lambda: theirs.responses.create(model="gpt-4o", input="hi", conversation=made.id),
        lambda: theirs.responses.create(model="gpt-4o", input="hi", conversation={"id": made.id}),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert len(upstream.requests) == reads  # none of it reached the upstream


def test_a_response_in_a_conversation_is_its_owners(app, upstream):
    mine = sdk(app, TOKEN_A)
    made = mine.conversations.create()
    answer = mine.responses.create(model="gpt-4o", input="What is a fox?", conversation=made.id)
    assert answer.output_text
    assert upstream.requests_to("POST", "/responses")[-1].body["conversation"] == made.id
    assert [item.role for item in mine.conversations.items.list(made.id).data] == ["user", "assistant"]


def test_what_openais_own_api_description_found_is_refused_here_not_upstream(app, upstream):
    """Found by schemathesis over openai/openai-openapi: an item id no URL can carry was a 500, and `..` would have
    named the conversation itself; items that are not objects reached the upstream."""
    mine = sdk(app, TOKEN_A)
    made = mine.conversations.create()
    client, auth = app.test_client(), {"Authorization": f"Bearer {TOKEN_A}"}
    asked = len(upstream.requests)
    for item_id in ("..", "."):
        for method in (client.get, client.delete):
            answer = method(f"/v1/conversations/{made.id}/items/{item_id}", headers=auth)
            assert answer.status_code == 404 and answer.get_json()["error"]["param"] == "item_id"
    for path, body in (("/v1/conversations", {"items": [[None, None]]}), (f"/v1/conversations/{made.id}/items", {})):
        answer = client.post(path, json=body, headers=auth)
        assert answer.status_code == 400 and answer.get_json()["error"]["param"] == "items"
    assert len(upstream.requests) == asked
    unprintable = client.delete(f"/v1/conversations/{made.id}/items/.%12a%C2%9F", headers=auth)
    assert unprintable.status_code == 404  # the upstream's answer for an item it does not have, not a 500
    assert upstream.requests[-1].path.endswith("/items/.%12a%C2%9F")  # escaped as it came
    with pytest.raises(openai.NotFoundError):
        mine.conversations.items.retrieve("msg a", conversation_id=made.id)
    assert upstream.requests[-1].path.endswith("/items/msg%20a")
