"""A minimal HTTP sink listening on many ports: answers every request 202, counts POSTs.

It stands for the remote servers of the fan-out benchmark, which in real life run on
other machines: it must cost as little CPU as possible on ours. So it is a bare
asyncio Protocol (no stream objects), on uvloop when installed, keeping connections
alive and handling pipelined requests.

Run: ``python -m bench.sink PORT [PORT...]``; ``GET /count`` on any port tells the total.
"""

import asyncio
import sys
from types import ModuleType
from typing import cast

uvloop: ModuleType | None
try:
    import uvloop
except ImportError:  # optional: the sink works without it
    uvloop = None

_count = 0
ACCEPTED = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class Sink(asyncio.Protocol):
    """One connection: reads requests (head, then content-length bytes), answers each."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to answer on (uvloop's is not an asyncio.Transport subclass)."""
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer."""
        global _count
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            try:
                length = _content_length(head)
            except ValueError:
                assert self.transport is not None
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            if head.startswith(b"GET /count"):
                body = str(_count).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                _count += 1
                self.transport.write(ACCEPTED)


async def main(ports: list[int]) -> None:
    """Listen on every port until killed."""
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(Sink, "127.0.0.1", port) for port in ports]
    await asyncio.gather(*(server.serve_forever() for server in servers))


def run(ports: list[int]) -> None:
    """Serve on uvloop when it is installed, else on the standard loop."""
    if uvloop is not None:
        uvloop.run(main(ports))
    else:
        asyncio.run(main(ports))


if __name__ == "__main__":
    run([int(port) for port in sys.argv[1:]])
