"""The model pool: which engine answers a request, loading it first if it is offered.

One load at a time (loads compete for the same memory); requests for a model that is
loading wait on that one load, each for at most `load_timeout_s`. Room is made by stopping
the least recently used idle on-demand engine; an engine with requests running or queued
is never stopped, so a request either waits (bounded) or gets a clear 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engines.launching import Launcher, LaunchOrder
from engines.pool.budget import GIB, Budget, configured_budget, measured_budget
from engines.pool.errors import (
    ModelNotServedError,
    OverBudgetError,
    PoolBusyError,
    QueueFullError,
)
from engines.pool.slots import QueueFull, SlotQueue
from engines.supervisor import EngineState, LaunchRequest, ManagedEngine, Supervisor
from profiles import OfferedModel, PoolSettings

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """A slot on an engine for one request; `release` is safe to call more than once."""

    engine: ManagedEngine
    _release: Callable[[], None]
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()


@dataclass
class _Usage:
    slots: SlotQueue
    last_used: float = field(default_factory=time.monotonic)
    last_used_at: float = field(default_factory=time.time)

    def touch(self) -> None:
        self.last_used, self.last_used_at = time.monotonic(), time.time()


class ModelPool:
    """Admission for every request, and the engines started on demand."""

    def __init__(self, supervisor: Supervisor, launcher: Launcher, settings: PoolSettings) -> None:
        self.supervisor = supervisor
        self.launcher = launcher
        self.settings = settings
        self.history: deque[dict[str, Any]] = deque(maxlen=100)
        self._usage: dict[str, _Usage] = {}
        self._loading: dict[str, asyncio.Task[ManagedEngine]] = {}
        self._evicting: set[str] = set()
        self._load_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._budget: Budget | None = None
        self._reaper: asyncio.Task[None] | None = None

    # -- admission -------------------------------------------------------------------

    async def admit(self, model: str) -> Lease:
        """The engine for `model` with a slot held for one request."""
        deadline = time.monotonic() + self.settings.load_timeout_s
        while True:
            engine = await self._engine_for(model)
            usage = self._usage_of(engine)
            await self._take_slot(model, usage)
            if self.supervisor.find(engine.name) is engine and engine.name not in self._evicting:
                usage.touch()
                return Lease(engine, functools.partial(self._release, engine.name))
            usage.slots.release()  # unloaded while this request waited: start over
            await self._wait_changed(deadline, f"'{model}' was unloaded and is not back")

    async def _take_slot(self, model: str, usage: _Usage) -> None:
        slots = usage.slots
        try:
            await slots.acquire(self.settings.queue_timeout_s)
        except QueueFull:
            raise QueueFullError(
                model, slots.active, slots.waiting, slots.retry_after_s()
            ) from None
        except TimeoutError:
            waited = self.settings.queue_timeout_s
            message = f"'{model}' stayed busy for {waited:.0f} s; retry shortly."
            raise PoolBusyError(message, slots.retry_after_s()) from None

    def _release(self, name: str) -> None:
        usage = self._usage.get(name)
        if usage is not None:
            usage.slots.release()
            usage.touch()
        self._notify()

    def _usage_of(self, engine: ManagedEngine) -> _Usage:
        usage = self._usage.get(engine.name)
        if usage is None:
            limit = self._offer_limit(engine.name)
            usage = _Usage(SlotQueue(limit, self.settings.max_queue))
            self._usage[engine.name] = usage
        return usage

    def _offer_limit(self, name: str) -> int:
        offer = self.offer_named(name)
        if offer is not None and offer.max_concurrent is not None:
            return offer.max_concurrent
        return self.settings.max_concurrent

    async def _engine_for(self, model: str) -> ManagedEngine:
        deadline = time.monotonic() + self.settings.load_timeout_s
        while True:
            engine = self.supervisor.find(model)
            if engine is not None and engine.name not in self._evicting:
                return engine
            if engine is None:
                offer = await self._offer_for(model)
                if offer is None:
                    served = [e.name for e in self.supervisor.engines()]
                    offered = [o.name for o in self.settings.models]
                    raise ModelNotServedError(model, served, offered)
                return await self._await_load(offer)
            await self._wait_changed(deadline, f"'{model}' is being unloaded")

    # -- offers ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether anything is offered on demand or a budget is set."""
        s = self.settings
        return bool(s.models or s.offer_local_models or s.memory_budget_gib)

    def offer_named(self, name: str) -> OfferedModel | None:
        return next((o for o in self.settings.models if name in (o.name, *o.aliases)), None)

    async def _offer_for(self, model: str) -> OfferedModel | None:
        offer = self.offer_named(model)
        if offer is not None or not self.settings.offer_local_models:
            return offer
        local = await asyncio.to_thread(self.launcher.registry.get, model)
        if local is None or not local.present:
            return None
        return OfferedModel(name=local.id, model=local.id)

    # -- loading and making room -----------------------------------------------------

    async def _await_load(self, offer: OfferedModel) -> ManagedEngine:
        task = self._loading.get(offer.name)
        if task is None:
            task = asyncio.create_task(self._load(offer), name=f"load {offer.name}")
            self._loading[offer.name] = task
            task.add_done_callback(lambda done: self._load_done(offer.name, done))
        timeout = self.settings.load_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            message = f"'{offer.name}' is still loading after {timeout:.0f} s; retry shortly."
            raise PoolBusyError(message, 5) from None

    def _load_done(self, name: str, task: asyncio.Task[ManagedEngine]) -> None:
        if self._loading.get(name) is task:
            del self._loading[name]
        if not task.cancelled() and task.exception() is not None:
            log.warning("loading %s on demand failed: %s", name, task.exception())
        self._notify()

    async def _load(self, offer: OfferedModel) -> ManagedEngine:
        async with self._load_lock:
            running = self.supervisor.find(offer.name)
            if running is not None:
                return running
            order = LaunchOrder(
                offer.model, offer.engine, offer.options, offer.name, tuple(offer.aliases),
                offer.profile,
            )  # fmt: skip
            request = await asyncio.to_thread(self.launcher.prepare, order, on_demand=True)
            await self._make_room(request)
            engine = await self.supervisor.launch(request)
            self._usage_of(engine).touch()  # the idle clock starts when it is ready
            self._record("loaded", engine, "first request for it")
            return engine

    async def launch(self, request: LaunchRequest) -> ManagedEngine:
        """An explicit launch: idle on-demand engines make room for it if the budget is
        short; it is never refused for the budget (its own fit check already passed)."""
        async with self._load_lock:
            if self.active:
                with contextlib.suppress(OverBudgetError, PoolBusyError):
                    await self._make_room(request, wait=False)
            return await self.supervisor.launch(request)

    async def stop(self, name: str, reason: str = "stopped by a user") -> dict[str, Any]:
        """Stop an engine by name or alias, remembering who asked."""
        engine = self.supervisor.get(name)
        await self._evict(engine, reason, "stopped")
        return engine.status()

    async def _make_room(self, request: LaunchRequest, wait: bool = True) -> None:
        need = request.memory.bytes if request.memory and request.memory.bytes else 0
        budget = await self.budget()
        deadline = time.monotonic() + self.settings.load_timeout_s
        while self.used_bytes() + need > budget.bytes:
            victim = self._lru_idle()
            if victim is not None:
                await self._evict(victim, self._eviction_reason(request, need, budget), "evicted")
                continue
            if need > budget.bytes - self._pinned_bytes():
                raise OverBudgetError(
                    f"'{request.served_name}' needs {need / GIB:.2f} GiB, more than the "
                    f"{budget.bytes / GIB:.2f} GiB budget leaves beside the engines launched "
                    "explicitly; raise pool.memory_budget_gib or stop an engine"
                )
            if not wait:
                raise PoolBusyError("no idle engine to unload", 5)
            await self._wait_changed(deadline, f"no room for '{request.served_name}' yet")

    def _eviction_reason(self, request: LaunchRequest, need: int, budget: Budget) -> str:
        free = (budget.bytes - self.used_bytes()) / GIB
        return (
            f"evicted to make room for '{request.served_name}' ({need / GIB:.2f} GiB needed, "
            f"{free:.2f} GiB free of the {budget.bytes / GIB:.2f} GiB budget); least recently used"
        )

    def _lru_idle(self) -> ManagedEngine | None:
        candidates = [
            engine
            for engine in self.supervisor.engines()
            if engine.request.on_demand
            and engine.name not in self._evicting
            and self._usage_of(engine).slots.idle
        ]
        return min(candidates, key=lambda e: self._usage_of(e).last_used, default=None)

    async def _evict(self, engine: ManagedEngine, reason: str, kind: str) -> None:
        self._evicting.add(engine.name)
        try:
            await self.supervisor.stop(engine.name, reason=reason)
        finally:
            self._evicting.discard(engine.name)
            self._usage.pop(engine.name, None)
            self._record(kind, engine, reason)
            self._notify()

    async def _wait_changed(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PoolBusyError(f"{what} after {self.settings.load_timeout_s:.0f} s; retry.", 5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), min(left, 1.0))

    def _notify(self) -> None:
        """Wake everyone waiting for a change (a slot freed, an engine gone)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- memory ----------------------------------------------------------------------

    async def budget(self) -> Budget:
        if self._budget is None:
            gib = self.settings.memory_budget_gib
            self._budget = (
                configured_budget(gib)
                if gib
                else await asyncio.to_thread(
                    measured_budget, self.launcher.locations.models_dir, self.used_bytes()
                )
            )
        return self._budget

    def used_bytes(self) -> int:
        return sum(_held(engine) for engine in self.supervisor.engines())

    def _pinned_bytes(self) -> int:
        return sum(_held(e) for e in self.supervisor.engines() if not e.request.on_demand)

    # -- idle unloading --------------------------------------------------------------

    def start(self) -> None:
        ttls = [o.idle_ttl_s for o in self.settings.models if o.idle_ttl_s]
        ttls += [self.settings.idle_ttl_s] if self.settings.idle_ttl_s else []
        if ttls and self._reaper is None:
            tick = min(30.0, max(0.25, min(ttls) / 4))
            self._reaper = asyncio.create_task(self._reap(tick), name="pool reaper")

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def _reap(self, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            for engine in self.supervisor.engines():
                if engine.state != EngineState.READY:
                    continue  # starting or restarting: idle only once it can answer
                ttl = self._ttl(engine)
                usage = self._usage_of(engine)
                idle_s = time.monotonic() - usage.last_used
                # idle for at least one tick: a request that was just handed the engine
                # has its slot well within that
                idle = usage.slots.idle and idle_s >= max(ttl, tick)
                if ttl and idle and self._evictable(engine):
                    why = f"unloaded after {idle_s:.0f} s idle (idle_ttl_s = {ttl:g})"
                    await self._evict(engine, why, "unloaded")

    def _ttl(self, engine: ManagedEngine) -> float:
        offer = self.offer_named(engine.name)
        if offer is not None and offer.idle_ttl_s is not None:
            return offer.idle_ttl_s
        return self.settings.idle_ttl_s

    def _evictable(self, engine: ManagedEngine) -> bool:
        return engine.request.on_demand and engine.name not in self._evicting

    # -- reporting -------------------------------------------------------------------

    def _record(self, kind: str, engine: ManagedEngine, reason: str) -> None:
        self.history.append({
            "at": time.time(),
            "event": kind,
            "name": engine.name,
            "model": engine.request.model.id,
            "memory_bytes": _held(engine),
            "reason": reason,
        })  # fmt: skip

    def usage(self, engine: ManagedEngine) -> dict[str, Any]:
        usage = self._usage.get(engine.name)
        return {
            "in_flight": usage.slots.active if usage else 0,
            "queued": usage.slots.waiting if usage else 0,
            "last_used_at": usage.last_used_at if usage else None,
            "max_concurrent": self._offer_limit(engine.name) or None,
            "idle_ttl_s": (self._ttl(engine) or None) if engine.request.on_demand else None,
        }

    async def status(self) -> dict[str, Any]:
        budget = await self.budget() if self.active else None
        loaded = {e.name for e in self.supervisor.engines()}
        return {
            "budget_bytes": budget.bytes if budget else None,
            "budget_basis": budget.basis if budget else "no budget: nothing offered on demand",
            "used_bytes": self.used_bytes(),
            "loading": sorted(self._loading),
            "offered": [
                {**offer.model_dump(mode="json"), "loaded": offer.name in loaded}
                for offer in self.settings.models
            ],
            "offer_local_models": self.settings.offer_local_models,
            "history": list(self.history),
        }


def _held(engine: ManagedEngine) -> int:
    memory = engine.request.memory
    return memory.bytes if memory and memory.bytes else 0
