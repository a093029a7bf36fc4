"""The bare TCP relay gateway_bench measures as its floor: a real streamed chat through it
arrives byte for byte, and a relay whose upstream is gone closes the client's connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bench.tcp_relay import start_relay
from devtools.stub_engine import build_app
from engines.process import free_port


@pytest.fixture
async def stub_port() -> AsyncIterator[int]:
    runner = web.AppRunner(build_app("stub-model"))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def _chat(port: int, tokens: int) -> tuple[int, bytes]:
    body = {"model": "stub-model", "max_tokens": tokens, "stream": True, "messages": []}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as response,
    ):
        return response.status, await response.read()


async def test_a_streamed_answer_arrives_unchanged_through_the_relay(stub_port: int) -> None:
    relay = await start_relay(stub_port)
    try:
        through = await _chat(relay.sockets[0].getsockname()[1], 5)
    finally:
        relay.close()
    direct = await _chat(stub_port, 5)

    assert through == direct
    assert through[1].count(b"data: ") == 5 + 2  # tokens, the usage chunk, [DONE]


async def test_a_relay_without_its_upstream_closes_the_client_connection() -> None:
    relay = await start_relay(free_port())
    port = relay.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        writer.close()
    finally:
        relay.close()
