"""Sessions in Redis: shared by every instance, expired by Redis itself."""

from __future__ import annotations

import orjson
import redis

from chatgate.storage.records import Session, kept_messages, new_session_id, now

# One script, so a turn is appended, capped and its expiry renewed atomically, and
# never to a session that was deleted or expired in the meantime.
_APPEND_TURN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('HSET', KEYS[1], 'last_updated', ARGV[4])
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'developer_message', ARGV[8]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
return 1
"""


class RedisSessionStore:
    """Each session is a hash (`session:<id>`) and a list of messages (`session:<id>:messages`)."""

    ACTIVE = "sessions:active"  # sorted by last activity, for counting without a scan

    def __init__(self, client: redis.Redis, ttl_seconds: int, max_messages: int):
        self.redis = client
        self.ttl_seconds = ttl_seconds
        self.max_messages = max_messages
        self._append = self.redis.register_script(_APPEND_TURN)

    @staticmethod
    def _keys(session_id: str) -> tuple[str, str]:
        return f"session:{session_id}", f"session:{session_id}:messages"

    def create(self, developer_message: str, owners: frozenset[str] = frozenset()) -> Session:
        session = Session(new_session_id(), developer_message, [], now(), now(), owners)
        info, _ = self._keys(session.session_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            info,
            mapping={
                "developer_message": developer_message,
                "created_at": session.created_at,
                "last_updated": session.last_updated,
                "owners": " ".join(sorted(owners)),
            },
        )
        pipe.expire(info, self.ttl_seconds)
        pipe.zadd(self.ACTIVE, {session.session_id: session.last_updated})
        pipe.execute()
        return session

    def get(self, session_id: str) -> Session | None:
        info, messages = self._keys(session_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(info)
        pipe.lrange(messages, 0, -1)
        fields, raw_messages = pipe.execute()
        if not fields:
            return None
        return Session(
            session_id,
            fields[b"developer_message"].decode(),
            [orjson.loads(m) for m in raw_messages],
            float(fields[b"created_at"]),
            float(fields[b"last_updated"]),
            frozenset(fields.get(b"owners", b"").decode().split()),
        )

    def delete(self, session_id: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*self._keys(session_id))
        pipe.zrem(self.ACTIVE, session_id)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def append_turn(self, session_id: str, user_message: str, reply: str, developer_message: str | None = None) -> bool:
        user = orjson.dumps({"role": "user", "content": user_message})
        assistant = orjson.dumps({"role": "assistant", "content": reply})
        return bool(
            self._append(
                keys=[*self._keys(session_id), self.ACTIVE],
                args=[
                    user,
                    assistant,
                    kept_messages(self.max_messages),
                    now(),
                    self.ttl_seconds,
                    session_id,
                    "0" if developer_message is None else "1",
                    developer_message or "",
                ],
            )
        )

    def active_count(self) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zremrangebyscore(self.ACTIVE, "-inf", now() - self.ttl_seconds)
        pipe.zcard(self.ACTIVE)
        return int(pipe.execute()[1])
