"""Redis across a network: a relay in front of a real redis-server that delays every request by a round trip
and counts them, so a test or the benchmark can say how many round trips a call makes and what they cost."""

from __future__ import annotations

import asyncio
import threading

from tests.support.servers import free_port


class DelayingRelay:
    """A TCP relay on loopback: each burst a client sends waits `delay` seconds before it reaches Redis (the
    answers come back at once), and is counted. A client waits for an answer before its next request, except
    in a pipeline, which goes as one burst: so bursts are round trips."""

    def __init__(self, target_port: int, delay: float):
        self.target_port, self.delay = target_port, delay
        self.port = free_port()
        self.round_trips = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True).start()
        if not self._ready.wait(10):
            raise TimeoutError("the relay did not start")

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _relay(self, client_reader, client_writer) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def requests():
            while data := await client_reader.read(65536):
                self.round_trips += 1
                await asyncio.sleep(self.delay)
                redis_writer.write(data)
                await redis_writer.drain()
            redis_writer.close()

        async def answers():
            while data := await redis_reader.read(65536):
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        await asyncio.gather(requests(), answers(), return_exceptions=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
