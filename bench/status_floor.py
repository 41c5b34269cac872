"""The floor of bench/status_flood.py: the cheapest server there is for the same answer — an
asyncio protocol that answers every request on a connection with the same bytes (as a cache in
front of Lifeline would), in its own process. A flood against it costs the clinical reads only
what the flood's own packets and load generator cost on this machine.

Usage: python -m bench.status_floor PORT FILE (FILE holds the complete HTTP answer to repeat).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


class Repeat(asyncio.Protocol):
    answer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(self.answer)  # type: ignore[attr-defined]


async def main(port: int, answer: bytes) -> None:
    Repeat.answer = answer
    server = await asyncio.get_running_loop().create_server(Repeat, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]).read_bytes()))
