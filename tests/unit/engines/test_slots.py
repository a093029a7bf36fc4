"""The per-model concurrency limit and its bounded queue."""

from __future__ import annotations

import asyncio

import pytest

from serving.pool.slots import QueueFull, SlotQueue


async def test_no_limit_never_queues() -> None:
    slots = SlotQueue(limit=0, max_waiting=0)
    for _ in range(100):
        await slots.acquire(1)
    assert slots.active == 100 and slots.waiting == 0


async def test_waiters_are_served_in_order_and_overflow_is_refused() -> None:
    slots = SlotQueue(limit=1, max_waiting=2)
    await slots.acquire(1)
    order: list[int] = []

    async def wait(i: int) -> None:
        await slots.acquire(5)
        order.append(i)

    waiting = [asyncio.create_task(wait(i)) for i in range(2)]
    while slots.waiting < 2:
        await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        await slots.acquire(1)
    slots.release()
    await waiting[0]
    assert order == [0] and slots.active == 1, "the slot passed straight to the oldest waiter"
    slots.release()
    await waiting[1]
    slots.release()
    assert order == [0, 1] and slots.idle


async def test_a_waiter_that_times_out_leaves_the_queue() -> None:
    slots = SlotQueue(limit=1, max_waiting=1)
    await slots.acquire(1)
    with pytest.raises(TimeoutError):
        await slots.acquire(0.01)
    assert slots.waiting == 0
    slots.release()
    assert slots.idle
    assert slots.retry_after_s() >= 1
