"""HTTP from the gateway to its engines, on loopback.

aiohttp, not httpx, on this path: relaying a stream costs one read and one write per token,
and aiohttp's C parser cut the client-side CPU per 128-token stream to about a third of
httpx's on the 2-core test machine (docs/benchmarks.md). CPU the proxy does not use is
CPU the engine gets, on a machine where both share the same cores.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TypeVar

import aiohttp

UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=None)
"""Connecting is quick on loopback; how long an answer may take is the caller's deadline
(`engines.first_byte_timeout_s`, `engines.token_timeout_s`), since it differs between
waiting for the first byte and waiting for the next token."""

KEEPALIVE_S = 3.0
"""How long an idle engine connection is kept for reuse (aiohttp's default is 15 s)."""

JSON_HEADERS = {"Content-Type": "application/json"}

T = TypeVar("T")

UpstreamFailure = (aiohttp.ClientError, TimeoutError)
"""What a failed engine connection raises: refused, dropped, truncated or timed out."""


class Upstream:
    """One connection pool to all engines; created inside the server's event loop."""

    def __init__(self, timeout: aiohttp.ClientTimeout = UPSTREAM_TIMEOUT) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Kept-alive connections, closed here before llama-server's 5 s idle limit
        (cpp-httplib's CPPHTTPLIB_KEEPALIVE_TIMEOUT_SECOND) would close them under us."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=0, ttl_dns_cache=None, keepalive_timeout=KEEPALIVE_S
            )
            self._session = self._session_on(connector)
        return self._session

    @property
    def fresh(self) -> aiohttp.ClientSession:
        """A new connection for every request: for the one retry after a kept-alive
        connection failed, which must not pick another stale one from the pool."""
        if self._fresh is None:
            self._fresh = self._session_on(aiohttp.TCPConnector(force_close=True))
        return self._fresh

    def _session_on(self, connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False
        )

    async def open(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
    ) -> aiohttp.ClientResponse:
        """POST and return once the status line and headers are in (within `deadline_s`,
        else TimeoutError); the caller reads the body and must `release()` (done) or
        `close()` (abandoned) the response.

        llama-server closes kept-alive connections after some streamed answers; reusing
        one then fails before any byte of an answer (the server hung up, or the request
        could not be written) and is safe to send once more. An
        engine that really died refuses the second try, which the caller reports."""
        sent = {**JSON_HEADERS, **headers} if headers else JSON_HEADERS
        async with asyncio.timeout(deadline_s):
            try:
                return await self.session.post(url, data=body, headers=sent)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                return await self.fresh.post(url, data=body, headers=sent)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
    ) -> tuple[int, bytes]:
        """POST and read the whole answer within `deadline_s`: (status, body). Given up
        (a deadline, a cancelled request), the connection is closed, which tells the
        engine to stop working on it."""
        async with asyncio.timeout(deadline_s):
            response = await self.open(url, body, headers)
            try:
                content = await response.read()
            except BaseException:
                response.close()
                raise
        response.release()
        return response.status, content

    async def close(self) -> None:
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()


async def timed_chunks(
    response: aiohttp.ClientResponse, first_s: float, next_s: float
) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; TimeoutError if the first takes longer than
    `first_s` or any later one longer than `next_s` (an engine that stopped mid-answer)."""
    chunks = response.content.iter_any()
    timer = ReadTimer(first_s)
    allowed_s = first_s
    try:
        while True:
            try:
                chunk = await timer.read(anext(chunks), allowed_s)
            except StopAsyncIteration:
                return
            yield chunk
            allowed_s = next_s
    finally:
        timer.close()


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
