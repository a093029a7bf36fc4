"""Sending a prompt set as load: arrivals (all at once, or a Poisson process at a request
rate) and a cap on requests in flight, the way `vllm bench serve` does.

The arrival schedule does not wait for the cap: with a rate above what the server can take,
requests queue at the client and their TTFT includes that wait, as they would in traffic.
Cancellation is cooperative (a threading.Event, so a UI thread can set it): no new request
is sent once it is set, and the ones in flight are abandoned.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.errors import BenchCancelled
from bench.loadgen import StreamSample, stream_chat
from bench.prompts import Prompt

CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=600)


@dataclass(frozen=True)
class Target:
    """Where the load goes. `api_key` is sent, never stored or printed."""

    base_url: str
    """The OpenAI base URL, ending in /v1."""
    model: str
    api_key: str | None = None
    force_length: bool = False
    """Ask the server to ignore end-of-sequence (our own engines) so every answer has
    exactly max_tokens; a hosted API gets plain max_tokens."""
    eos_token_id: int | None = None
    kind: str = "endpoint"
    """hostbench (a model our server runs) or endpoint (any OpenAI-compatible API)."""
    max_tokens_field: str = "max_tokens"
    """OpenAI's own API wants `max_completion_tokens` for its newer models."""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class LoadResult:
    samples: tuple[StreamSample, ...]
    duration_s: float
    """From the first send to the last answer."""


Progress = Callable[[int, int, StreamSample], None]
"""(done, total, the sample that just finished)."""


def request_body(target: Target, prompt: Prompt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [dict(m) for m in prompt.messages],
        target.max_tokens_field: prompt.max_tokens,
    }
    if target.force_length:
        body["ignore_eos"] = True
        if target.eos_token_id is not None:
            body["logit_bias"] = {str(target.eos_token_id): -100}
    return body


def arrival_delays(count: int, request_rate: float, seed: int = 0) -> list[float]:
    """Seconds to wait before each request: 0 for an unlimited rate, else exponential gaps
    (a Poisson process) with mean 1 / rate."""
    if math.isinf(request_rate):
        return [0.0] * count
    if request_rate <= 0:
        raise ValueError("request rate must be positive")
    rng = random.Random(seed)
    return [rng.expovariate(request_rate) for _ in range(count)]


async def run_load(
    target: Target,
    prompts: Sequence[Prompt],
    concurrency: int,
    request_rate: float = math.inf,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> LoadResult:
    """Send every prompt once; return the samples (in prompt order) and the wall time."""
    gate = asyncio.Semaphore(concurrency)
    total, done = len(prompts), 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT, connector=connector) as client:

        async def one(prompt: Prompt) -> StreamSample:
            nonlocal done
            async with gate:
                sample = await stream_chat(
                    client, target.base_url, request_body(target, prompt), target.headers()
                )
            done += 1
            if progress is not None:
                progress(done, total, sample)
            return sample

        started = time.perf_counter()
        tasks: list[asyncio.Task[StreamSample]] = []
        try:
            await _issue(prompts, one, arrival_delays(total, request_rate, seed), cancel, tasks)
            samples = await _gather(tasks, cancel)
        finally:
            # Ctrl-C cancels this coroutine: end every request before the session closes,
            # or one would go on into a closed session and print a traceback at exit
            await _abandon([task for task in tasks if not task.done()])
        return LoadResult(tuple(samples), time.perf_counter() - started)


async def _issue(
    prompts: Sequence[Prompt],
    one: Callable[[Prompt], Any],
    delays: Sequence[float],
    cancel: threading.Event | None,
    tasks: list[asyncio.Task[StreamSample]],
) -> None:
    """Start a task per prompt into `tasks`, each after its delay."""
    for prompt, delay in zip(prompts, delays, strict=True):
        if delay:
            await asyncio.sleep(delay)
        if cancel is not None and cancel.is_set():
            await _abandon(tasks)
            raise BenchCancelled("cancelled before every request was sent")
        tasks.append(asyncio.create_task(one(prompt)))


async def _gather(
    tasks: list[asyncio.Task[StreamSample]], cancel: threading.Event | None
) -> list[StreamSample]:
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.2)
        if cancel is not None and cancel.is_set() and pending:
            await _abandon(tasks)
            raise BenchCancelled("cancelled while requests were in flight")
    return [task.result() for task in tasks]


async def _abandon(tasks: list[asyncio.Task[StreamSample]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
