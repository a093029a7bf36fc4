"""Noticing a hung engine (stopped, deadlocked) while it has requests to answer.

A busy engine is not a hung one: llama-server answers its health check from its HTTP
threads while every slot is decoding, and so does any server whose event loop is alive.
So the check is whether the engine answers at all (any HTTP status), probed every
`engines.health_interval_s` while requests are in flight; an engine that has answered
nothing for `engines.hang_timeout_s` is hung. A long prompt on a slow CPU keeps the
engine busy, never silent, and so never trips it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import httpx

from profiles import EngineSettings


async def responds(client: httpx.AsyncClient, path: str) -> bool:
    """Whether the engine answers `path` with anything at all."""
    try:
        await client.get(path)
    except httpx.HTTPError:
        return False
    return True


async def watch(
    base_url: str,
    health_path: str,
    headers: Mapping[str, str],
    settings: EngineSettings,
    busy: Callable[[], bool],
) -> float:
    """Return how long the engine was silent, once it has been silent too long while
    `busy()`; run until then (the caller cancels it when the engine exits)."""
    timeout = min(settings.hang_timeout_s, max(1.0, settings.health_interval_s * 2))
    async with httpx.AsyncClient(
        base_url=base_url, timeout=timeout, headers=dict(headers)
    ) as client:
        last_answer = time.monotonic()
        while True:
            await asyncio.sleep(settings.health_interval_s)
            if not busy() or await responds(client, health_path):
                last_answer = time.monotonic()
                continue
            silent = time.monotonic() - last_answer
            if silent >= settings.hang_timeout_s:
                return silent
