"""The HTTP client to the engines (engines.http_client), against
real servers on loopback that answer as engines do, and as broken ones do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.http_client import (
    READ_HIGH_WATER,
    ConnectionDropped,
    EngineClient,
    InvalidAnswer,
    request_head,
    split_url,
)

Answer = Callable[["Engine", asyncio.StreamWriter, bytes], Awaitable[bool]]
"""Writes one answer to a request's head; False closes the connection after it."""

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Engine:
    """A loopback server: counts connections and requests, and keeps what was asked."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()
        self.reader: asyncio.StreamReader | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.reader = reader
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                if not await self.answer(self, writer, head):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test is over
        finally:
            writer.close()
            self.closed.set()


@asynccontextmanager
async def fake_engine(
    answer: Callable[[Engine, asyncio.StreamWriter, bytes], Awaitable[bool]],
) -> AsyncIterator[tuple[Engine, str]]:
    fake = Engine(answer)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def streams_three_events(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
    writer.write(CHUNKED_HEAD)
    for data in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
        writer.write(chunk(data))
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    return True


def replies(raw: bytes, *, keep_open: bool = True) -> Answer:
    """An engine that answers every request with `raw`."""

    async def answer(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(raw)
        return keep_open

    return answer


answers_whole = replies(b'HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\n{"a":1}')


async def test_a_stream_arrives_chunk_by_chunk_and_its_connection_is_reused() -> None:
    async with (
        fake_engine(streams_three_events) as (fake, base),
        EngineClient() as client,
    ):
        for _ in range(3):
            response = await client.open(base + "/v1/chat/completions", b"{}")
            assert response.status == 200
            seen = []
            while data := await response.chunk():
                seen.append(data)
            response.release()
            assert b"".join(seen) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
            assert len(seen) == 3, "each event as it was sent, not the whole body at the end"
    assert fake.connections == 1
    assert fake.requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Content-Type: application/json\r\n" in fake.requests[0]
    assert b"Content-Length: 2\r\n" in fake.requests[0] and fake.requests[0].endswith(b"\r\n\r\n{}")


async def test_a_whole_answer_and_a_get() -> None:
    async with (
        fake_engine(answers_whole) as (fake, base),
        EngineClient() as client,
    ):
        assert await client.post(base + "/tokenize?x=1", b"{}") == (201, b'{"a":1}')
        assert await client.get(base + "/metrics", {"Authorization": "Bearer k"}) == (
            201,
            b'{"a":1}',
        )
    assert fake.requests[0].startswith(b"POST /tokenize?x=1 HTTP/1.1\r\n")
    get = fake.requests[1]
    assert get.startswith(b"GET /metrics HTTP/1.1\r\n") and b"Authorization: Bearer k" in get
    assert b"Content-Length" not in get and b"Content-Type" not in get
    assert fake.connections == 1


async def test_a_kept_connection_the_engine_closed_is_retried_once_on_a_new_one() -> None:
    async def answers_then_hangs_up(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
        await answers_whole(_, writer, __)
        return False  # closes after each answer without saying so, as llama-server can

    async with (
        fake_engine(answers_then_hangs_up) as (fake, base),
        EngineClient() as client,
    ):
        assert (await client.post(base + "/a", b"{}"))[0] == 201
        await fake.closed.wait()
        assert (await client.post(base + "/a", b"{}"))[0] == 201
    assert fake.connections == 2 and len(fake.requests) == 2


async def test_an_answer_cut_short_is_an_error_and_is_not_sent_again() -> None:
    async def dies_mid_answer(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        await writer.drain()
        return False

    async with (
        fake_engine(dies_mid_answer) as (fake, base),
        EngineClient() as client,
    ):
        response = await client.open(base + "/a", b"{}")
        assert await response.chunk() == b"data: 1\n\n"
        with pytest.raises(ConnectionDropped):
            await response.chunk()
        response.close()
    assert len(fake.requests) == 1


async def test_what_is_not_http_is_an_error() -> None:
    talks_nonsense = replies(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    async with (
        fake_engine(talks_nonsense) as (_, base),
        EngineClient() as client,
    ):
        with pytest.raises(InvalidAnswer):
            await client.post(base + "/a", b"{}")


async def test_connection_close_and_an_unread_answer_are_not_reused() -> None:
    says_close = replies(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    async with (
        fake_engine(says_close) as (fake, base),
        EngineClient() as client,
    ):
        await client.post(base + "/a", b"{}")
        await client.post(base + "/a", b"{}")
    assert fake.connections == 2
    async with (
        fake_engine(streams_three_events) as (fake, base),
        EngineClient() as client,
    ):
        first = await client.open(base + "/a", b"{}")
        await first.chunk()
        first.release()  # released before its end: closed, never handed to another request
        second = await client.open(base + "/a", b"{}")
        assert await second.read() == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
        second.release()
    assert fake.connections == 2


async def test_an_idle_connection_is_closed_after_the_keepalive() -> None:
    async with (
        fake_engine(answers_whole) as (fake, base),
        EngineClient(keepalive_s=0.05) as client,
    ):
        await client.post(base + "/a", b"{}")
        await asyncio.wait_for(fake.closed.wait(), 2.0)


async def test_a_cancelled_request_closes_its_connection() -> None:
    """Closing is how the engine learns to stop generating for nobody."""

    async def never_answers(fake: Engine, _: asyncio.StreamWriter, __: bytes) -> bool:
        assert fake.reader is not None
        await fake.reader.read(1)  # returns at the client's end of the connection
        return False

    async with (
        fake_engine(never_answers) as (fake, base),
        EngineClient() as client,
    ):
        with pytest.raises(TimeoutError):
            await client.post(base + "/a", b"{}", deadline_s=0.1)
        await asyncio.wait_for(fake.closed.wait(), 2.0)


async def test_a_refused_connection_raises_oserror() -> None:
    async with fake_engine(answers_whole) as (_, base):
        pass  # the server is gone: its port refuses
    with pytest.raises(OSError):
        await EngineClient().post(base + "/a", b"{}")


async def test_an_unread_answer_stops_being_read_from_the_socket() -> None:
    """A slow client makes the engine wait, rather than the gateway buffering a whole answer."""
    block = b"x" * 65536
    sent = 0

    async def floods(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
        nonlocal sent
        writer.write(CHUNKED_HEAD)
        for _ in range(256):  # 16 MiB
            writer.write(chunk(block))
            await writer.drain()
            sent += len(block)
        writer.write(b"0\r\n\r\n")
        return True

    async with (
        fake_engine(floods) as (_, base),
        EngineClient() as client,
    ):
        response = await client.open(base + "/a", b"{}")
        await asyncio.sleep(0.5)
        assert sent < 8 << 20, "the engine was stopped by the full socket buffers"
        first = await response.chunk()
        assert len(first) <= 2 * READ_HIGH_WATER, "at most one socket read past the mark"
        rest = await response.read()
        assert len(first) + len(rest) == 256 * len(block)
        response.release()


def test_headers_that_would_split_a_request_are_refused() -> None:
    url = "http://127.0.0.1:8080/v1/x"
    for name, value in (("X-Key", "a\r\nHost: evil"), ("X\nY", "v"), ("A:B", "v")):
        with pytest.raises(ValueError, match="line break or a colon"):
            request_head("POST", *split_url(url), b"", {name: value})
    with pytest.raises(ValueError, match="not an http://host:port URL"):
        split_url("https://example.com/v1")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_from_an_engine_give_an_answer_or_an_engine_http_error(garbage: bytes) -> None:
    async def ask() -> None:
        async with (
            fake_engine(replies(garbage, keep_open=False)) as (_, base),
            EngineClient() as client,
        ):
            with contextlib.suppress(ConnectionDropped, InvalidAnswer):
                await client.post(base + "/a", b"{}", deadline_s=2.0)

    asyncio.run(ask())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=8))
def test_a_chunked_body_comes_back_whole_however_it_is_cut(pieces: list[bytes]) -> None:
    async def sends(_: Engine, writer: asyncio.StreamWriter, __: bytes) -> bool:
        wire = CHUNKED_HEAD + b"".join(chunk(p) for p in pieces) + b"0\r\n\r\n"
        for i in range(0, len(wire), 7):  # in small writes, splitting chunk headers too
            writer.write(wire[i : i + 7])
            await writer.drain()
        return True

    async def ask() -> bytes:
        async with (
            fake_engine(sends) as (_, base),
            EngineClient() as client,
        ):
            return (await client.post(base + "/a", b"{}", deadline_s=2.0))[1]

    assert asyncio.run(ask()) == b"".join(pieces)
