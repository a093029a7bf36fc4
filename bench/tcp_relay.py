"""A byte-for-byte TCP relay: the least any extra process on a request's path can add.

    python -m bench.tcp_relay UPSTREAM_PORT [PORT]     # prints "ready PORT" when listening

`python -m devtools.gateway_bench` sends its requests through this as a third path beside
"direct" and "through hostbench": it parses nothing and records nothing, so the time it
adds is the cost of one more process hop on the machine (two extra socket writes and
wake-ups, and a process that must get a core), and what the gateway adds beyond it is the
gateway's own work. Loopback only; never part of serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator

CHUNK_BYTES = 65536


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until `source` ends or fails, then close `sink`."""
    try:
        while data := await source.read(CHUNK_BYTES):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()


async def relay_connection(
    upstream_port: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
) -> None:
    """One client connection, relayed both ways to its own upstream connection; a refused
    upstream closes the client's connection."""
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def start_relay(upstream_port: int, port: int = 0) -> asyncio.Server:
    """A listening relay on loopback; port 0 picks a free one."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await relay_connection(upstream_port, reader, writer)

    return await asyncio.start_server(on_connect, "127.0.0.1", port)


@contextlib.contextmanager
def relay_process(upstream_port: int) -> Iterator[str]:
    """The relay in its own process (as the gateway runs in its own) in front of
    `upstream_port`; yields its base URL and stops it afterwards."""
    argv = [sys.executable, "-m", "bench.tcp_relay", str(upstream_port)]
    relay = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        line = relay.stdout.readline().split() if relay.stdout else []
        if len(line) != 2 or line[0] != "ready":
            raise RuntimeError(f"bench.tcp_relay did not start (exit code {relay.poll()})")
        yield f"http://127.0.0.1:{line[1]}"
    finally:
        relay.terminate()
        relay.wait(10)


async def _serve(upstream_port: int, port: int) -> None:
    server = await start_relay(upstream_port, port)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    """Run on uvloop where it exists, as hostbench's server does."""
    upstream_port, port = int(argv[0]), int(argv[1]) if len(argv) > 1 else 0
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(_serve(upstream_port, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
