"""Timing streamed chat requests against any OpenAI-compatible endpoint.

Metrics follow docs/architecture.md, "Measuring" (vLLM's definitions): TTFT is send →
first chunk with non-empty
`choices`; ITL the gaps between content chunks; E2E send → last content chunk; output
tokens from the server's `usage` (requested with `stream_options.include_usage`), else
the number of content chunks. llama-server's own `timings` (final chunk) are kept beside
ours, so the two clocks can be checked against each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.sse import parse_data, payloads, split_events


@dataclass(frozen=True)
class EngineTimings:
    """llama-server's account of one request (the `timings` object of its last chunk)."""

    prompt_n: int
    prompt_ms: float
    predicted_n: int
    predicted_ms: float

    @classmethod
    def parse(cls, data: Any) -> EngineTimings | None:
        try:
            return cls(
                int(data["prompt_n"]),
                float(data["prompt_ms"]),
                int(data["predicted_n"]),
                float(data["predicted_ms"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens after the first over the time after the first (the engine's own rate)."""
        if self.predicted_n < 2 or self.predicted_ms <= 0:
            return None
        return (self.predicted_n - 1) / self.predicted_ms * 1000.0


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
    prompt_tokens: int | None = None
    """From the server's `usage`; None where the server sent none."""
    tokens_from_usage: bool = False
    """Whether `output_tokens` is the server's count (else: content chunks)."""
    engine_timings: EngineTimings | None = None
    sent_at_s: float = 0.0
    """perf_counter() when the request was sent, to place it in a run."""

    @property
    def tpot_ms(self) -> float | None:
        """Time per output token after the first: (E2E - TTFT) / (tokens - 1)."""
        if self.ttft_ms is None or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)


@dataclass
class _Clock:
    clock: Callable[[], float] = time.perf_counter
    start: float = field(default=0.0)
    ttft_ms: float | None = None
    last_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    usage_tokens: int | None = None
    prompt_tokens: int | None = None
    timings: EngineTimings | None = None

    def __post_init__(self) -> None:
        self.start = self.clock()

    def chunk(self, payload: dict[str, Any]) -> None:
        now = (self.clock() - self.start) * 1000.0
        choices = payload.get("choices")
        if choices and isinstance(choices, list):
            if self.ttft_ms is None:
                self.ttft_ms = now
            if _has_content(choices[0]):
                if self.last_ms is not None and self.chunks:
                    self.itl_ms.append(now - self.last_ms)
                self.chunks += 1
                self.last_ms = now
        usage = payload.get("usage")
        if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
            self.usage_tokens = int(usage["completion_tokens"])
            if usage.get("prompt_tokens") is not None:
                self.prompt_tokens = int(usage["prompt_tokens"])
        if "timings" in payload:
            self.timings = EngineTimings.parse(payload["timings"])


def _has_content(choice: Any) -> bool:
    """Text in a chat delta (answer or reasoning) or in a completion choice."""
    if not isinstance(choice, dict):
        return False
    delta = choice.get("delta")
    if isinstance(delta, dict) and (delta.get("content") or delta.get("reasoning_content")):
        return True
    return bool(choice.get("text"))


async def stream_chat(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> StreamSample:
    """Send one streamed chat request and time it; a kept-alive connection the server
    closed before answering (no byte received) is retried once, like any HTTP client."""
    return await _retrying_stale(_stream_chat_once, client, base_url, body, headers)


ChatSender = Callable[
    [aiohttp.ClientSession, str, Mapping[str, Any], Mapping[str, str] | None],
    Awaitable[StreamSample],
]
"""How a request is sent and timed: `stream_chat` or `unary_chat` (client, base URL, body,
headers)."""


async def _retrying_stale(
    once: ChatSender,
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
) -> StreamSample:
    sample = await once(client, base_url, body, headers)
    if not sample.ok and sample.ttft_ms is None and sample.stale_connection:
        sample = await once(client, base_url, body, headers)
    return sample


async def _stream_chat_once(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
) -> StreamSample:
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    return await _send_chat(client, base_url, payload, headers, _read_events)


async def _read_events(response: aiohttp.ClientResponse, clock: _Clock) -> StreamSample | None:
    """Time each streamed event; an error event ends the sample as failed."""
    async for events in split_events(response.content.iter_any()):
        for data in payloads(events):
            parsed = parse_data(data)
            if parsed is None or "error" in parsed:
                return _failed(clock, str(_error_of(data if parsed is None else parsed)))
            clock.chunk(parsed)
    return None


async def unary_chat(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> StreamSample:
    """Send one non-streamed chat request and time it (TTFT is the whole answer's time):
    the client reads one body per answer instead of parsing every token, for measuring a
    server's throughput on a machine whose cores the client shares. Retried once like
    `stream_chat`."""
    return await _retrying_stale(_unary_chat_once, client, base_url, body, headers)


async def _unary_chat_once(
    client: aiohttp.ClientSession,
    base_url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
) -> StreamSample:
    return await _send_chat(client, base_url, {**body, "stream": False}, headers, _read_answer)


async def _read_answer(response: aiohttp.ClientResponse, clock: _Clock) -> StreamSample | None:
    """Time the whole answer and take its token counts (and engine timings)."""
    answer = await response.json(content_type=None)
    if not isinstance(answer, dict) or "error" in answer:
        return _failed(clock, str(_error_of(answer)))
    clock.ttft_ms = clock.last_ms = _elapsed_ms(clock)
    clock.chunk({key: answer[key] for key in ("usage", "timings") if key in answer})
    return None


ResponseReader = Callable[[aiohttp.ClientResponse, _Clock], Awaitable[StreamSample | None]]


async def _send_chat(
    client: aiohttp.ClientSession,
    base_url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    read: ResponseReader,
) -> StreamSample:
    """POST a chat request and time it: `read` takes a 200 answer into the clock (or returns
    a failed sample); an HTTP error, a bad body or a dropped connection is a failed sample."""
    clock = _Clock()
    try:
        async with client.post(
            f"{base_url}/chat/completions", json=payload, headers=headers
        ) as response:
            if response.status != 200:
                text = (await response.read()).decode(errors="replace")[:300]
                return _failed(clock, f"HTTP {response.status}: {text}")
            failure = await read(response, clock)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
        # a reused connection the server had closed: dropped, or unwritable
        return _failed(clock, f"{type(error).__name__}: {error}", stale_connection=True)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        return _failed(clock, f"{type(error).__name__}: {error}")
    return failure or _completed(clock)


def _error_of(parsed: Any) -> Any:
    return parsed.get("error") if isinstance(parsed, dict) else f"unexpected event {parsed!r}"


def _completed(clock: _Clock) -> StreamSample:
    from_usage = clock.usage_tokens is not None
    tokens = clock.usage_tokens if clock.usage_tokens is not None else clock.chunks
    e2e = clock.last_ms if clock.last_ms is not None else _elapsed_ms(clock)
    return StreamSample(
        True,
        clock.ttft_ms,
        e2e,
        tokens,
        tuple(clock.itl_ms),
        prompt_tokens=clock.prompt_tokens,
        tokens_from_usage=from_usage,
        engine_timings=clock.timings,
        sent_at_s=clock.start,
    )


def _elapsed_ms(clock: _Clock) -> float:
    return (clock.clock() - clock.start) * 1000.0


def _failed(clock: _Clock, error: str, stale_connection: bool = False) -> StreamSample:
    return StreamSample(
        False,
        clock.ttft_ms,
        _elapsed_ms(clock),
        clock.chunks,
        error=error,
        stale_connection=stale_connection,
        sent_at_s=clock.start,
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
