"""Server-sent events are split whole, whatever the chunk boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bench.sse import event_data, parse_data, split_events

STREAM = (
    b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
    b": keep-alive\n\n"
    b'data: {"choices":[],"usage":{"completion_tokens":1}}\r\n\r\n'
    b"data: [DONE]\n\n"
)


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def collect(size: int) -> list[bytes]:
    return [event async for events in split_events(chunks(STREAM, size)) for event in events]


async def test_events_are_identical_for_any_chunking() -> None:
    whole = await collect(len(STREAM))
    assert len(whole) == 4
    for size in (1, 3, 7, 64):
        assert await collect(size) == whole


async def test_payloads() -> None:
    events = await collect(5)
    assert parse_data(event_data(events[0])) == {"choices": [{"delta": {"content": "Hi"}}]}
    assert event_data(events[1]) is None
    assert parse_data(event_data(events[2]))["usage"] == {"completion_tokens": 1}
    assert parse_data(event_data(events[3])) is None


async def test_events_completed_by_one_read_come_together() -> None:
    reads = [events async for events in split_events(chunks(STREAM, len(STREAM)))]
    assert [len(events) for events in reads] == [4]
