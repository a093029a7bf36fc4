"""A per-model concurrency limit with a bounded first-come-first-served queue, and the
lease a request holds on its slot."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from engines.supervisor import ManagedEngine


class QueueFull(Exception):
    """More requests wait than the queue holds."""


class SlotQueue:
    """`limit` requests run at once (0: no limit); up to `max_waiting` more wait in order.

    A released slot is handed straight to the oldest waiter, so a newcomer never overtakes
    a request that has been waiting."""

    def __init__(self, limit: int, max_waiting: int) -> None:
        self.limit = limit
        self.max_waiting = max_waiting
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._mean_hold_s = 1.0
        self._held_since: deque[float] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    @property
    def idle(self) -> bool:
        return self.active == 0 and self.waiting == 0

    def retry_after_s(self) -> int:
        """A client's best wait: the queue ahead of it at the mean time a request holds a slot."""
        turns = (self.waiting + 1) / max(1, self.limit)
        return max(1, math.ceil(turns * self._mean_hold_s))

    async def acquire(self, timeout_s: float) -> None:
        """Take a slot, waiting up to `timeout_s`; raise QueueFull or TimeoutError."""
        if self.limit == 0 or (self.active < self.limit and not self.waiting):
            self._take()
            return
        if self.waiting >= self.max_waiting:
            raise QueueFull
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._held_since.append(time.monotonic())
                self.release()  # the slot came just as this request gave up
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        self._held_since.append(time.monotonic())

    def _take(self) -> None:
        self.active += 1
        self._held_since.append(time.monotonic())

    def release(self) -> None:
        if self._held_since:
            held = time.monotonic() - self._held_since.popleft()
            self._mean_hold_s = 0.8 * self._mean_hold_s + 0.2 * held
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; `active` stays
                return
        self.active = max(0, self.active - 1)


@dataclass
class Lease:
    """A slot on an engine for one request; `release` is safe to call more than once."""

    engine: ManagedEngine
    _release: Callable[[], None]
    _released: bool = False

    def __post_init__(self) -> None:
        self.engine.request_started()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.engine.request_finished()
            self._release()


@dataclass
class Usage:
    """An engine's slots and when it was last used (for LRU eviction and idle TTLs)."""

    slots: SlotQueue
    last_used: float = field(default_factory=time.monotonic)
    last_used_at: float = field(default_factory=time.time)

    def touch(self) -> None:
        self.last_used, self.last_used_at = time.monotonic(), time.time()
