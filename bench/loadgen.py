"""Timing streamed chat requests against any OpenAI-compatible endpoint.

Metrics follow DESIGN.md (vLLM's definitions): TTFT is send → first chunk with non-empty
`choices`; ITL the gaps between content chunks; E2E send → last content chunk; output
tokens from the server's `usage` (requested with `stream_options.include_usage`), else
the number of content chunks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class StreamSample:
    ok: bool
    ttft_ms: float | None
    e2e_ms: float
    output_tokens: int
    itl_ms: tuple[float, ...] = ()
    error: str | None = None
    stale_connection: bool = False
    """The server dropped the connection without answering (a reused, closed socket)."""

    @property
    def tpot_ms(self) -> float | None:
        """Time per output token after the first: (E2E - TTFT) / (tokens - 1)."""
        if self.ttft_ms is None or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)


@dataclass
class _Clock:
    start: float = field(default_factory=time.perf_counter)
    ttft_ms: float | None = None
    last_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    usage_tokens: int | None = None

    def chunk(self, payload: dict[str, Any]) -> None:
        now = (time.perf_counter() - self.start) * 1000.0
        choices = payload.get("choices")
        if choices:
            if self.ttft_ms is None:
                self.ttft_ms = now
            delta = choices[0].get("delta") or {}
            if delta.get("content") or choices[0].get("text"):
                if self.last_ms is not None and self.chunks:
                    self.itl_ms.append(now - self.last_ms)
                self.chunks += 1
                self.last_ms = now
        usage = payload.get("usage")
        if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
            self.usage_tokens = int(usage["completion_tokens"])


async def stream_chat(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> StreamSample:
    """Send one streamed chat request and time it; a kept-alive connection the server
    closed before answering (no byte received) is retried once, like any HTTP client."""
    sample = await _stream_chat_once(client, base_url, body, headers)
    if not sample.ok and sample.ttft_ms is None and sample.stale_connection:
        sample = await _stream_chat_once(client, base_url, body, headers)
    return sample


async def _stream_chat_once(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
) -> StreamSample:
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    clock = _Clock()
    try:
        async with client.post(
            f"{base_url}/chat/completions", json=payload, headers=headers
        ) as response:
            if response.status != 200:
                text = (await response.read()).decode(errors="replace")[:300]
                return _failed(clock, f"HTTP {response.status}: {text}")
            async for line in response.content:
                if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                    parsed = json.loads(line[5:])
                    if "error" in parsed:
                        return _failed(clock, str(parsed["error"]))
                    clock.chunk(parsed)
    except aiohttp.ServerDisconnectedError as error:
        return _failed(clock, f"{type(error).__name__}: {error}", stale_connection=True)
    except (aiohttp.ClientError, TimeoutError) as error:
        return _failed(clock, f"{type(error).__name__}: {error}")
    tokens = clock.usage_tokens if clock.usage_tokens is not None else clock.chunks
    e2e = clock.last_ms if clock.last_ms is not None else _elapsed_ms(clock)
    return StreamSample(True, clock.ttft_ms, e2e, tokens, tuple(clock.itl_ms))


def _elapsed_ms(clock: _Clock) -> float:
    return (time.perf_counter() - clock.start) * 1000.0


def _failed(clock: _Clock, error: str, stale_connection: bool = False) -> StreamSample:
    return StreamSample(
        False,
        clock.ttft_ms,
        _elapsed_ms(clock),
        clock.chunks,
        error=error,
        stale_connection=stale_connection,
    )


async def run_concurrent(
    count: int, concurrency: int, one: Callable[[int], Awaitable[StreamSample]]
) -> tuple[list[StreamSample], float]:
    """Run `count` requests, at most `concurrency` at a time; return samples and wall time."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(index: int) -> StreamSample:
        async with gate:
            return await one(index)

    started = time.perf_counter()
    samples = await asyncio.gather(*(gated(i) for i in range(count)))
    return list(samples), time.perf_counter() - started
