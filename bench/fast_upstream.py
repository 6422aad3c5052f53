"""A fast fake OpenAI upstream for the benchmark: asyncio on uvloop, keep-alive, JSON and SSE.

The tests' fake is threaded and records everything; this one only answers, so that
it is never what the benchmark measures. Streams send one content event per word of
WORDS, `--chunk-delay` apart, like a model producing tokens.

Run alone: `python -m bench.fast_upstream --port 8901`.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
import uvloop

from chatgate.upstream import wire

WORDS = ["Hello", " from", " the", " fast", " fake", " upstream", ",", " one", " token", " at a time."]


def completion(model: str, prompt_tokens: int) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(WORDS), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(WORDS),
                "total_tokens": prompt_tokens + len(WORDS),
            },
        }
    )


def chunk(model: str, delta: dict, finish: str | None, usage: dict | None = None, choices: bool = True) -> bytes:
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        event["usage"] = usage
    data = b"data: " + orjson.dumps(event) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream:
    def __init__(self, chunk_delay: float):
        self.chunk_delay = chunk_delay

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                if head.startswith(b"GET"):
                    await self.send_json(writer, orjson.dumps({"object": "list", "data": []}))
                elif body.get("stream") and head.split(b" ", 2)[1].endswith(b"/responses"):
                    await self.stream_response(writer, body)
                elif body.get("stream"):
                    await self.stream(writer, body)
                else:
                    await self.send_json(writer, completion(body.get("model", "gpt-4o-mini"), 8))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def send_json(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data)
        )
        await writer.drain()

    async def stream(self, writer: asyncio.StreamWriter, body: dict) -> None:
        model = body.get("model", "gpt-4o-mini")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk(model, {"role": "assistant", "content": ""}, None))
        await writer.drain()
        for word in WORDS:
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            writer.write(chunk(model, {"content": word}, None))
            await writer.drain()
        writer.write(chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 8, "completion_tokens": len(WORDS), "total_tokens": 8 + len(WORDS)}
            writer.write(chunk(model, {}, None, usage, choices=False))
        data = b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        await writer.drain()

    async def stream_response(self, writer: asyncio.StreamWriter, body: dict) -> None:
        """The Responses API's event sequence, one delta per word of WORDS."""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for name, payload, is_delta in wire.response_frames(body, "".join(WORDS)):
            if is_delta and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            data = b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def serve(port: int, chunk_delay: float) -> None:
    server = await asyncio.start_server(Upstream(chunk_delay).handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--chunk-delay", type=float, default=0.02)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.chunk_delay))


if __name__ == "__main__":
    main()
