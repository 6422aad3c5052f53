"""A small HTTP/1.1 client on asyncio for the load: keep-alive, Content-Length and chunked bodies.

Written for the benchmark rather than taken from a library so that the client costs
as little CPU as possible: on two cores, the load generator shares the machine.
"""

from __future__ import annotations

import asyncio
import time


class Connection:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer, port)

    def close(self) -> None:
        self.writer.close()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> tuple[int, float, float, bytes]:
        """(status, seconds to the first body byte, seconds in all, body)."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        started = time.perf_counter()
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        first_byte = None
        if b"transfer-encoding: chunked" in lower:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            data = b"".join(p[:-2] for p in parts)
        else:
            index = lower.find(b"content-length:")
            length = int(lower[index + 15 : lower.find(b"\r\n", index)]) if index >= 0 else 0
            data = await self.reader.readexactly(length)
            first_byte = time.perf_counter() - started
        return status, first_byte, time.perf_counter() - started, data
