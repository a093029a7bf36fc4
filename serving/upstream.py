"""The gateway's reads from its engines: a streamed answer's events as they arrive, each
read within its deadline (the client itself is engines.http_client)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bench.sse import EventSplitter
from engines.http_client import EngineResponse

T = TypeVar("T")


class EventReads:
    """An engine's streamed answer as server-sent events, read as they arrive; TimeoutError
    if the first read takes longer than `first_s` or any later one longer than `next_s` (an
    engine that stopped mid-answer). `close()` when done with it.

    One object rather than a chain of async generators (reads, deadlines, events): each
    layer was another frame to resume for every token (docs/benchmarks.md)."""

    def __init__(self, response: EngineResponse, first_s: float, next_s: float) -> None:
        self.response = response
        self._timer = ReadTimer(first_s)
        self._allowed_s = first_s
        self._next_s = next_s
        self._splitter = EventSplitter()
        self._ended = False
        self._closed = False

    async def next(self) -> list[bytes]:
        """The events the next reads complete; an empty list once the answer is over."""
        while not self._ended:
            chunk = await self._timer.read(self.response.chunk(), self._allowed_s)
            self._allowed_s = self._next_s
            if not chunk:
                self._ended = True
                return self._splitter.rest()
            if events := self._splitter.feed(chunk):
                return events
        return []

    def close(self, keep: bool = False) -> None:
        """Done with the answer; only the first call counts. `keep`: it was read to its end
        and its connection serves the next request; else the connection is closed, which
        tells the engine to stop generating."""
        if self._closed:
            return
        self._closed = True
        self._timer.close()
        if keep:
            self.response.release()
        else:
            self.response.close()


class ReadTimer:
    """Ends a read that takes longer than it may with TimeoutError, as `asyncio.timeout`
    around it would, but with one timer per stream, moved only when it fires.

    `asyncio.timeout` around every read made and cancelled a timer per token: about 6 µs
    of the gateway's CPU per token on the 2-core test machine (docs/benchmarks.md). Here a
    read only notes when it began."""

    def __init__(self, first_allowed_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "reads happen in a task"
        self._task = task
        self._began = self._loop.time()
        self._allowed_s = first_allowed_s
        self._reading = False
        self._expired = False
        self._cancelling = 0
        self._fires_at = self._began + first_allowed_s
        self._handle = self._loop.call_at(self._fires_at, self._check)

    async def read(self, pending: Awaitable[T], allowed_s: float) -> T:
        """`pending`'s result, or TimeoutError once `allowed_s` have passed."""
        self._began, self._allowed_s = self._loop.time(), allowed_s
        if self._began + allowed_s < self._fires_at:  # a shorter allowance than the last
            self._schedule(self._began + allowed_s)
        self._cancelling = self._task.cancelling()
        self._reading = True
        try:
            return await pending
        except asyncio.CancelledError:
            if self._expired and self._task.uncancel() <= self._cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._reading = False

    def _check(self) -> None:
        now = self._loop.time()
        if not self._reading:  # between reads: a read starting now has all its time
            self._schedule(now + self._allowed_s)
        elif now >= self._began + self._allowed_s:
            self._expired = True
            self._task.cancel()
        else:
            self._schedule(self._began + self._allowed_s)

    def _schedule(self, at: float) -> None:
        self._handle.cancel()
        self._fires_at = at
        self._handle = self._loop.call_at(at, self._check)

    def close(self) -> None:
        self._handle.cancel()
