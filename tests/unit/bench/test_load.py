"""The load generator against a scripted OpenAI-style SSE server on loopback: parsing,
concurrency cap, Poisson arrivals, cancellation, errors."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bench.errors import BenchCancelled
from bench.load import Target, arrival_delays, request_body, run_load
from bench.prompts import Prompt

PROMPT = Prompt(({"role": "user", "content": "hi"},), 1, 3)


def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
    payload = {"choices": [{"index": 0, "delta": delta}], **extra}
    return f"data: {json.dumps(payload)}\n\n".encode()


class Scripted:
    """A chat endpoint that answers every stream with the same chunks and records bodies."""

    def __init__(self, release: asyncio.Event | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = release

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        if body["model"] == "missing":
            return web.json_response({"error": {"message": "no such model"}}, status=404)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._stream(request)
        finally:
            self.in_flight -= 1

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": None}))
        if self.release is not None:
            await self.release.wait()
        await response.write(chunk({"content": "Hello"}) + chunk({"content": " big world"}))
        usage = {"prompt_tokens": 9, "completion_tokens": 3}
        timings = {"prompt_n": 9, "prompt_ms": 5.0, "predicted_n": 3, "predicted_ms": 2.0}
        await response.write(
            f"data: {json.dumps({'choices': [], 'usage': usage, 'timings': timings})}\n\n".encode()
        )
        await response.write(b"data: [DONE]\n\n")
        return response


async def serve(app_handler: Scripted) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", app_handler.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    handler = Scripted()
    async for url in serve(handler):
        yield handler, url


async def test_samples_carry_usage_timings_and_the_asked_options(
    scripted: tuple[Scripted, str],
) -> None:
    handler, url = scripted
    target = Target(url, "m", force_length=True, eos_token_id=2, api_key="k")
    result = await run_load(target, [PROMPT] * 5, concurrency=2)
    assert len(result.samples) == 5 and all(s.ok for s in result.samples)
    first = result.samples[0]
    assert (first.output_tokens, first.prompt_tokens, first.tokens_from_usage) == (3, 9, True)
    assert first.engine_timings is not None and first.engine_timings.prompt_ms == 5.0
    assert first.ttft_ms is not None and first.ttft_ms <= first.e2e_ms
    body = handler.bodies[0]
    assert body["stream"] and body["stream_options"] == {"include_usage": True}
    assert body["ignore_eos"] and body["logit_bias"] == {"2": -100}
    assert body["max_tokens"] == 3
    assert handler.most_in_flight <= 2


def test_a_hosted_endpoint_gets_plain_options() -> None:
    body = request_body(Target("u", "gpt", max_tokens_field="max_completion_tokens"), PROMPT)
    assert body == {
        "model": "gpt",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 3,
    }


async def test_concurrency_is_a_cap_on_requests_in_flight() -> None:
    release = asyncio.Event()
    handler = Scripted(release)
    async for url in serve(handler):
        load = asyncio.create_task(run_load(Target(url, "m"), [PROMPT] * 6, concurrency=3))
        deadline = asyncio.get_running_loop().time() + 30
        while handler.in_flight < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert handler.in_flight == 3  # three wait on the server, three at the client
        release.set()
        result = await load
        assert handler.most_in_flight == 3 and len(result.samples) == 6


async def test_http_errors_become_failed_samples(scripted: tuple[Scripted, str]) -> None:
    _, url = scripted
    result = await run_load(Target(url, "missing"), [PROMPT], concurrency=1)
    (failed,) = result.samples
    assert not failed.ok and failed.error is not None and "HTTP 404" in failed.error


async def test_cancel_stops_the_run() -> None:
    release = asyncio.Event()
    handler = Scripted(release)
    cancel = threading.Event()
    async for url in serve(handler):

        async def cancel_when_busy() -> None:
            while handler.in_flight < 1:
                await asyncio.sleep(0.01)
            cancel.set()

        watcher = asyncio.create_task(cancel_when_busy())
        with pytest.raises(BenchCancelled):
            await run_load(Target(url, "m"), [PROMPT] * 4, concurrency=1, cancel=cancel)
        await watcher
        assert len(handler.bodies) == 1  # nothing more was sent once cancelled
        release.set()


def test_poisson_arrivals_have_the_asked_mean_rate() -> None:
    delays = arrival_delays(20_000, request_rate=4.0, seed=7)
    assert statistics.fmean(delays) == pytest.approx(0.25, rel=0.03)
    assert statistics.pstdev(delays) == pytest.approx(0.25, rel=0.05)  # exponential
    assert arrival_delays(3, float("inf")) == [0.0, 0.0, 0.0]
    assert arrival_delays(5, 2.0, seed=1) == arrival_delays(5, 2.0, seed=1)
