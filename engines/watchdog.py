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

from engines.http_client import ENGINE_HTTP_FAILURES, EngineClient
from profiles import EngineSettings


async def responds(
    client: EngineClient, url: str, headers: Mapping[str, str], timeout_s: float
) -> bool:
    """Whether the engine answers `url` with anything at all within `timeout_s`."""
    try:
        await client.get(url, headers, timeout_s)
    except ENGINE_HTTP_FAILURES:
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
    `busy()`; run until then (the caller cancels it when the engine exits).

    The probe runs every second beside the engine's own work, on the same cores, so it goes
    through the lean client on a kept-alive connection (docs/benchmarks.md, "The gateway's
    HTTP client")."""
    timeout = min(settings.hang_timeout_s, max(1.0, settings.health_interval_s * 2))
    client = EngineClient()
    try:
        last_answer = time.monotonic()
        while True:
            await asyncio.sleep(settings.health_interval_s)
            if not busy() or await responds(client, base_url + health_path, headers, timeout):
                last_answer = time.monotonic()
                continue
            silent = time.monotonic() - last_answer
            if silent >= settings.hang_timeout_s:
                return silent
    finally:
        await client.close()
