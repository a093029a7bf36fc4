"""The hang watchdog against real sockets on loopback: a server that answers (even an
error, even slowly) is alive; one that accepts connections and never answers is hung, but
only while requests are in flight."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from engines import watchdog
from profiles import EngineSettings

SETTINGS = EngineSettings(hang_timeout_s=1.0, health_interval_s=0.1)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening socket nobody reads from: connections are accepted by the kernel and
    never answered, as with a stopped (SIGSTOP) or deadlocked engine."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_an_engine_that_answers_nothing_while_busy_is_hung(silent_port: int) -> None:
    async def run() -> float:
        url = f"http://127.0.0.1:{silent_port}"
        return await asyncio.wait_for(
            watchdog.watch(url, "/health", {}, SETTINGS, busy=lambda: True), 10
        )

    began = time.monotonic()
    silent = asyncio.run(run())
    assert silent >= SETTINGS.hang_timeout_s
    assert time.monotonic() - began < SETTINGS.hang_timeout_s + 3


def test_an_idle_engine_is_never_judged(silent_port: int) -> None:
    async def run() -> None:
        url = f"http://127.0.0.1:{silent_port}"
        await watchdog.watch(url, "/health", {}, SETTINGS, busy=lambda: False)

    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(run(), 2.5))


def test_any_answer_means_alive() -> None:
    async def run() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            url = f"http://127.0.0.1:{port}"
            await asyncio.wait_for(
                watchdog.watch(url, "/health", {}, SETTINGS, busy=lambda: True), 2.5
            )

    with pytest.raises(TimeoutError):
        asyncio.run(run())
