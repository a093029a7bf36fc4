"""Server-sent events, read from a byte stream: the one SSE reader of the gateway's relay
(serving.gateway, which forwards each event's bytes unchanged) and the load generator
(bench.loadgen). Both read aiohttp streams on their hot path; the httpx clients in the
front ends read theirs with httpx-sse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

DONE = b"[DONE]"


class EventSplitter:
    """Whole events out of a byte stream cut anywhere, each with its terminating blank line."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events `chunk` completes (none while an event is still arriving)."""
        if not self._buffer and _one_event(chunk):  # as engines send most tokens
            return [chunk] if chunk.strip() else []
        buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events = []
        while (end := buffer.find(b"\n\n")) >= 0:
            event, buffer = buffer[: end + 2], buffer[end + 2 :]
            if event.strip():
                events.append(event)
        self._buffer = buffer
        return events

    def rest(self) -> list[bytes]:
        """At the end of the stream: an event left without its blank line, completed."""
        rest, self._buffer = self._buffer, b""
        return [rest + b"\n\n"] if rest.strip() else []


def _one_event(chunk: bytes) -> bool:
    """Whether `chunk` is exactly one event with its blank line, and no CR to normalize."""
    end = len(chunk) - 2
    return end >= 0 and chunk.find(b"\n\n") == end and b"\r" not in chunk


async def split_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """For each read that completes events, yield them (each with its terminating blank
    line), so that what arrived together can be forwarded together."""
    splitter = EventSplitter()
    async for chunk in chunks:
        if events := splitter.feed(chunk):
            yield events
    if rest := splitter.rest():
        yield rest


def event_data(event: bytes) -> bytes | None:
    """The `data:` payload of an event (lines joined), or None for comments/keep-alives."""
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def payloads(events: Iterable[bytes]) -> Iterator[bytes]:
    """The data of each event, leaving out comments, keep-alives and the `[DONE]` marker."""
    for event in events:
        data = event_data(event)
        if data is not None and data != DONE:
            yield data


def parse_data(data: bytes | None) -> dict[str, Any] | None:
    if data is None or data == DONE:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
