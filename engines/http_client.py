"""HTTP/1.1 to the engines on loopback, for the gateway and the watchdog: one asyncio protocol
per connection, httptools' C parser for the answers, kept-alive connections pooled per engine.

Only what talking to an engine needs: a request with a body of bytes, an answer read whole
or chunk by chunk as it arrives (chunked transfer decoded by the parser), connections kept
for reuse and closed to tell an engine to stop. An answer must carry its length or come
chunked, as every engine's does; one that ends only by closing its connection is taken
for a dropped one. Why not a general client on this path:
docs/benchmarks.md, "The gateway's HTTP client".
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

READ_HIGH_WATER = 1 << 18
"""Bytes of answer held unread before the connection stops reading (the engine then waits
for the client, as it would talking to it directly)."""


CONNECT_TIMEOUT_S = 5.0
"""Connecting is quick on loopback; how long an answer may take is the caller's deadline
(`engines.first_byte_timeout_s`, `engines.token_timeout_s`), since it differs between
waiting for the first byte and waiting for the next token."""

KEEPALIVE_S = 3.0
"""How long an idle engine connection is kept for reuse: closed here before llama-server's
5 s idle limit (cpp-httplib's CPPHTTPLIB_KEEPALIVE_TIMEOUT_SECOND) would close it under us."""

JSON_HEADERS = {"Content-Type": "application/json"}


class EngineHTTPError(Exception):
    """The engine's connection failed: dropped before the answer ended, or not HTTP."""


class ConnectionDropped(EngineHTTPError):
    """The engine closed the connection before its answer was complete."""


class InvalidAnswer(EngineHTTPError):
    """What the engine sent is not an HTTP/1.1 answer."""


ENGINE_HTTP_FAILURES = (EngineHTTPError, OSError, TimeoutError)
"""What a failed request to an engine raises: refused, dropped, truncated, not HTTP, or
past its deadline."""


class Origin(NamedTuple):
    """Where an engine listens: what its connections are kept by."""

    host: str
    port: int


@lru_cache(maxsize=256)
def split_url(url: str) -> tuple[Origin, str]:
    """`http://host:port/path?query` as the origin and the request target (path and
    query); ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"not an http://host:port URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.hostname, parts.port), target


def request_head(
    method: str, origin: Origin, target: str, body: bytes | None, headers: Mapping[str, str]
) -> bytes:
    """The request line and headers; a header that would split the request is refused."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host}:{origin.port}"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n\0") or ":" in name:
            raise ValueError(f"header {name!r} holds a line break or a colon")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection(asyncio.Protocol):
    """One TCP connection to an engine, answering one request at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._error: EngineHTTPError | None = None
        self.status = 0
        self.headers_done = False
        """Not `status` alone: the parser takes "HTTP/1.1 000" for an answer."""
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.closed = False
        self.idle_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._parser is None:  # nothing was asked: an engine that talks out of turn
            self._fail(InvalidAnswer("the engine sent data between answers"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(InvalidAnswer(f"the engine's answer is not HTTP/1.1: {error}"))
            return
        if self._buffered > READ_HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self._error is None:
            self._error = ConnectionDropped(
                "the engine closed the connection" + ("" if exc is None else f": {exc!r}")
            )
        self._wake()

    # httptools' callbacks

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self.status = self._parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        self.keep_alive = self._parser.should_keep_alive()  # reset once this returns
        self.complete = True

    # the exchange

    def send(self, head: bytes, body: bytes) -> None:
        """Start a request; the answer's state starts afresh."""
        assert self._transport is not None and not self.closed
        self._parser = httptools.HttpResponseParser(self)
        self.status, self.headers_done, self.complete = 0, False, False
        self.keep_alive, self.received = False, False
        self._transport.write(head + body)

    async def headers(self) -> int:
        """The answer's status, once its headers are in."""
        while not self.headers_done:
            await self._next_event()
        return self.status

    async def chunk(self) -> bytes:
        """Everything of the body that arrived since the last call; b"" once it is over."""
        while not self._chunks:
            if self.complete:
                return b""
            await self._next_event()
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()  # type: ignore[union-attr]
        return data

    def reusable(self) -> bool:
        """Whether the answer ended cleanly and the engine keeps the connection open."""
        return self.complete and self.keep_alive and not self.closed and not self._chunks

    def idle(self) -> None:
        """Between requests: an answer's leftovers are gone."""
        self._parser = None

    def close(self) -> None:
        """Close now; an engine reads this as the client leaving and stops the request."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True

    async def _next_event(self) -> None:
        if self._error is not None:
            raise self._error
        if self.closed:
            raise ConnectionDropped("the engine closed the connection")
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _fail(self, error: EngineHTTPError) -> None:
        self._error = error
        self.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EngineResponse:
    """An engine's answer whose status line and headers are in. Its body is read with
    `read` or `chunk`; then `release()` (read to its end: the connection is kept for the
    next request) or `close()` (abandoned: the engine stops working on it)."""

    def __init__(self, connection: Connection, client: EngineClient, origin: Origin) -> None:
        self._connection = connection
        self._client = client
        self._origin = origin
        self.status = connection.status
        self.chunk = connection.chunk
        """What arrived of the body since the last call (waiting for some); b"" at its end.
        The connection's own method, not a wrapper: it runs for every token."""

    async def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while part := await self._connection.chunk():
            parts.append(part)
        return b"".join(parts)

    def release(self) -> None:
        self._client.put_back(self._origin, self._connection)

    def close(self) -> None:
        self._client.discard(self._connection)


class EngineClient:
    """Kept-alive connections to every engine it talks to; created inside the event loop
    that uses it."""

    def __init__(
        self, keepalive_s: float = KEEPALIVE_S, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> None:
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._idle: dict[Origin, list[Connection]] = {}
        self._connections: set[Connection] = set()

    async def open(
        self,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
    ) -> EngineResponse:
        """POST `body` (GET when None) and return once the status line and headers are in
        (within `deadline_s`, else TimeoutError); the caller reads the body and must
        `release()` (done) or `close()` (abandoned) the response.

        llama-server closes kept-alive connections after some streamed answers; reusing
        one then fails before any byte of an answer and is safe to send once more, on a
        new connection. An engine that really died refuses that one, which the caller
        reports."""
        origin, target = split_url(url)
        if body is None:
            head = request_head("GET", origin, target, None, headers or {})
        else:
            sent = {**JSON_HEADERS, **headers} if headers else JSON_HEADERS
            head = request_head("POST", origin, target, body, sent)
        async with asyncio.timeout(deadline_s):
            if (kept := self._take(origin)) is not None:
                try:
                    return await self._exchange(kept, origin, head, body)
                except ConnectionDropped:
                    if kept.received:
                        raise
            return await self._exchange(await self._connect(origin), origin, head, body)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
    ) -> tuple[int, bytes]:
        """POST and read the whole answer within `deadline_s`: (status, body)."""
        return await self._whole(url, body, headers, deadline_s)

    async def get(
        self, url: str, headers: Mapping[str, str] | None = None, deadline_s: float | None = None
    ) -> tuple[int, bytes]:
        """GET and read the whole answer within `deadline_s`: (status, body)."""
        return await self._whole(url, None, headers, deadline_s)

    async def _whole(
        self,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        deadline_s: float | None,
    ) -> tuple[int, bytes]:
        """The whole answer to a POST of `body` (a GET when None). Given up (a deadline, a
        cancelled request), the connection is closed, which tells the engine to stop
        working on it."""
        async with asyncio.timeout(deadline_s):
            response = await self.open(url, body, headers)
            try:
                content = await response.read()
            except BaseException:
                response.close()
                raise
        response.release()
        return response.status, content

    def put_back(self, origin: Origin, connection: Connection) -> None:
        """Keep a connection whose answer was read to its end for the next request."""
        if not connection.reusable():
            self.discard(connection)
            return
        connection.idle()
        loop = asyncio.get_running_loop()
        connection.idle_timer = loop.call_later(self._keepalive_s, self._expire, origin, connection)
        self._idle.setdefault(origin, []).append(connection)

    def discard(self, connection: Connection) -> None:
        connection.close()
        self._connections.discard(connection)

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        for connection in list(self._connections):
            self.discard(connection)
        self._idle.clear()

    def _take(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.idle_timer is not None:
                connection.idle_timer.cancel()
            if not connection.closed:
                return connection
            self._connections.discard(connection)
        return None

    def _expire(self, origin: Origin, connection: Connection) -> None:
        idle = self._idle.get(origin, [])
        if connection in idle:
            idle.remove(connection)
        self.discard(connection)

    async def _connect(self, origin: Origin) -> Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout_s):
            _, connection = await loop.create_connection(Connection, origin.host, origin.port)
        self._connections.add(connection)
        return connection

    async def _exchange(
        self, connection: Connection, origin: Origin, head: bytes, body: bytes | None
    ) -> EngineResponse:
        try:
            connection.send(head, body or b"")
            await connection.headers()
        except BaseException:
            self.discard(connection)
            raise
        return EngineResponse(connection, self, origin)
