"""Splitting an upstream server-sent-event byte stream into whole events, unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

DONE = b"[DONE]"


async def split_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """For each read that completes events, yield them (each with its terminating blank
    line), so that what arrived together can be forwarded together."""
    buffer = b""
    async for chunk in chunks:
        buffer = (buffer + chunk).replace(b"\r\n", b"\n")
        events = []
        while (end := buffer.find(b"\n\n")) >= 0:
            event, buffer = buffer[: end + 2], buffer[end + 2 :]
            if event.strip():
                events.append(event)
        if events:
            yield events
    if buffer.strip():
        yield [buffer + b"\n\n"]


def event_data(event: bytes) -> bytes | None:
    """The `data:` payload of an event (lines joined), or None for comments/keep-alives."""
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def parse_data(data: bytes | None) -> dict[str, Any] | None:
    if data is None or data == DONE:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def encode_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
