"""HTTP from the gateway to its engines, on loopback.

aiohttp, not httpx, on this path: relaying a stream costs one read and one write per token,
and aiohttp's C parser cut the client-side CPU per 128-token stream to about a third of
httpx's on the 2-core test machine (docs/benchmarks.md). CPU the proxy does not use is
CPU the engine gets, on a machine where both share the same cores.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=600.0)
"""An engine may think for a long time before a non-streamed answer; never forever."""

JSON_HEADERS = {"Content-Type": "application/json"}

UpstreamFailure = (aiohttp.ClientError, TimeoutError)
"""What a failed engine connection raises: refused, dropped, truncated or timed out."""


class Upstream:
    """One connection pool to all engines; created inside the server's event loop."""

    def __init__(self, timeout: aiohttp.ClientTimeout = UPSTREAM_TIMEOUT) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )
        return self._session

    async def open(
        self, url: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        """POST and return once the status line and headers are in; the caller reads the
        body and must `release()` (done) or `close()` (abandoned) the response.

        llama-server closes kept-alive connections after some streamed answers; reusing
        one then fails before any byte of an answer (the server hung up, or the request
        could not be written) and is safe to send once more. An
        engine that really died refuses the second try, which the caller reports."""
        sent = {**JSON_HEADERS, **headers} if headers else JSON_HEADERS
        try:
            return await self.session.post(url, data=body, headers=sent)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return await self.session.post(url, data=body, headers=sent)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """POST and read the whole answer: (status, body)."""
        response = await self.open(url, body, headers)
        try:
            return response.status, await response.read()
        finally:
            response.release()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
