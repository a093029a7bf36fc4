"""The streamed response on the token path: what it sends, and what happens when the client
leaves mid-stream or the server cancels it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from serving.relay import RelayResponse


class Relay:
    """A relay like the gateway's: yields chunks, notes how it ended."""

    def __init__(self, chunks: int, pause_s: float = 0.0) -> None:
        self.chunks, self.pause_s = chunks, pause_s
        self.ended: str | None = None

    async def run(self) -> AsyncGenerator[bytes, None]:
        self.ended = "running"
        try:
            for i in range(self.chunks):
                await asyncio.sleep(self.pause_s)
                yield b"data: %d\n\n" % i
            self.ended = "complete"
        finally:
            if self.ended == "running":
                self.ended = "closed"


class Client:
    """The ASGI side: records what was sent; `leave()` makes receive() say disconnect."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self._gone.set()

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


SCOPE = {"type": "http", "method": "POST", "path": "/v1/chat/completions"}


async def test_a_complete_stream_is_sent_and_closed_once() -> None:
    relay, client, closed = Relay(3), Client(), []
    response = RelayResponse(relay.run(), on_close=lambda: closed.append(1))
    await response(SCOPE, client.receive, client.send)
    start = client.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert client.bodies == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert client.sent[-1]["more_body"] is False
    assert relay.ended == "complete" and closed == [1]


async def test_the_client_leaving_closes_the_relay_where_it_waits() -> None:
    relay, client, closed = Relay(1000, pause_s=0.01), Client(), []
    response = RelayResponse(relay.run(), on_close=lambda: closed.append(1))
    task = asyncio.create_task(response(SCOPE, client.receive, client.send))
    while len(client.bodies) < 2:
        await asyncio.sleep(0.005)
    client.leave()
    await asyncio.wait_for(task, 2)  # ends quietly: the cancellation was its own
    assert relay.ended == "closed" and closed == [1]
    assert len(client.bodies) < 1000 and client.bodies[-1] != b""


async def test_a_cancellation_from_outside_is_not_swallowed() -> None:
    relay, client, closed = Relay(1000, pause_s=0.01), Client(), []
    response = RelayResponse(relay.run(), on_close=lambda: closed.append(1))
    task = asyncio.create_task(response(SCOPE, client.receive, client.send))
    await asyncio.sleep(0.03)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert relay.ended == "closed" and closed == [1]


async def test_a_client_gone_before_the_first_chunk_ends_quietly() -> None:
    relay, client, closed = Relay(2), Client(), []
    client.leave()
    response = RelayResponse(relay.run(), on_close=lambda: closed.append(1))
    await response(SCOPE, client.receive, client.send)
    assert closed == [1] and relay.ended in ("complete", "closed")
