"""The relay's read deadline (serving.upstream.ReadTimer): one timer per stream, and the same
outcomes as `asyncio.timeout` around each read."""

from __future__ import annotations

import asyncio
import time

import pytest

from serving.upstream import ReadTimer


async def after(seconds: float, value: str = "chunk") -> str:
    await asyncio.sleep(seconds)
    return value


async def test_a_read_in_time_returns_and_a_late_one_times_out() -> None:
    timer = ReadTimer(1.0)
    try:
        assert await timer.read(after(0.01), 1.0) == "chunk"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await timer.read(after(5.0), 0.1)
        assert time.monotonic() - started < 1.0, "the shorter allowance counts, not the first"
    finally:
        timer.close()


async def test_time_between_reads_does_not_count() -> None:
    """A slow client (the relay writing) is not an engine that stopped."""
    timer = ReadTimer(0.3)
    try:
        for _ in range(3):
            await asyncio.sleep(0.4)  # longer than a read may take, spent between reads
            assert await timer.read(after(0.01), 0.3) == "chunk"
    finally:
        timer.close()


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def reading() -> None:
        timer = ReadTimer(10.0)
        try:
            await timer.read(after(5.0), 10.0)
        finally:
            timer.close()

    task = asyncio.ensure_future(reading())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_timeout_leaves_the_task_uncancelled_for_what_follows() -> None:
    timer = ReadTimer(0.05)
    try:
        with pytest.raises(TimeoutError):
            await timer.read(after(1.0), 0.05)
    finally:
        timer.close()
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0
    assert await after(0.01, "later") == "later", "the task goes on after the error"
