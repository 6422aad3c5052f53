"""The fake upstream's conversations (OpenAI's Conversations API): kept in memory, with their items."""

from __future__ import annotations

import itertools
import re
import time

_PATH = re.compile(r"/conversations(?:/([^/?]+))?(?:/items(?:/([^/?]+))?)?/?(?:\?.*)?$")
_IS_ITEMS = re.compile(r"/conversations/[^/?]+/items")


class Conversations:
    def __init__(self):
        self.kept: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def clear(self) -> None:
        self.kept.clear()

    def answer(self, method: str, path: str, body: dict | None) -> tuple[int, dict] | None:
        """(status, JSON) for a conversations call; None for any other path."""
        found = _PATH.search(path.split("?")[0])
        if not found or "/conversations" not in path:
            return None
        conversation_id, item_id = found.group(1), found.group(2)
        items_path = bool(_IS_ITEMS.search(path))
        if conversation_id is None:
            return self._create(body or {}) if method == "POST" else (404, _error("Unknown path"))
        conversation = self.kept.get(conversation_id)
        if conversation is None:
            return 404, _error(f"Conversation with id '{conversation_id}' not found.")
        if items_path:
            return self._items(method, conversation, item_id, body or {})
        if method == "GET":
            return 200, _shown(conversation)
        if method == "POST":
            conversation["metadata"] = (body or {}).get("metadata", conversation["metadata"])
            return 200, _shown(conversation)
        del self.kept[conversation_id]
        return 200, {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

    def add_turn(self, conversation_id: str, text: str, reply: str) -> None:
        """A response made in a conversation adds its input and its output to it."""
        if (conversation := self.kept.get(conversation_id)) is not None:
            for role, content in (("user", text), ("assistant", reply)):
                conversation["_items"].append(self._item(role, content))

    def _create(self, body: dict) -> tuple[int, dict]:
        conversation_id = f"conv_{next(self._ids):08d}"
        conversation = {"id": conversation_id, "created_at": int(time.time()), "metadata": body.get("metadata") or {}}
        conversation["_items"] = [self._item(i.get("role", "user"), i.get("content")) for i in body.get("items", [])]
        self.kept[conversation_id] = conversation
        return 200, _shown(conversation)

    def _items(self, method: str, conversation: dict, item_id: str | None, body: dict) -> tuple[int, dict]:
        items = conversation["_items"]
        if item_id is None and method == "POST":
            added = [self._item(i.get("role", "user"), i.get("content")) for i in body.get("items", [])]
            items.extend(added)
            return 200, _listed(added)
        if item_id is None:
            return 200, _listed(items)
        item = next((i for i in items if i["id"] == item_id), None)
        if item is None:
            return 404, _error(f"Item with id '{item_id}' not found.")
        if method == "DELETE":
            items.remove(item)
            return 200, _shown(conversation)
        return 200, item

    def _item(self, role: str, content: object) -> dict:
        return {"id": f"msg_{next(self._ids):08d}", "type": "message", "role": role, "content": content}


def _shown(conversation: dict) -> dict:
    return {"object": "conversation", **{k: v for k, v in conversation.items() if not k.startswith("_")}}


def _listed(items: list[dict]) -> dict:
    first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
    return {"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": False}


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
