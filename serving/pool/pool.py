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
import threading
import time
from collections import deque
from typing import Any

from catalog.size import weights_bytes_before_pull
from engines.supervisor import EngineState, LaunchRequest, ManagedEngine, Supervisor
from profiles import OfferedModel, PoolSettings
from serving.pool import arrivals
from serving.pool.arrivals import Arrivals, being_cancelled
from serving.pool.budget import GIB, Budget, configured_budget, measured_budget
from serving.pool.errors import (
    ModelNotServedError,
    OverBudgetError,
    PoolBusyError,
    QueueFullError,
)
from serving.pool.idle import every_ttl, idle_ttl, sleeps
from serving.pool.slots import Lease, QueueFull, SlotQueue, Usage
from workflows.launching import Launcher, LaunchOrder

log = logging.getLogger(__name__)

ANNOUNCE_POLL_S = 0.05
"""How often a request inside its launch grace looks for the launch (a dictionary lookup)."""


class ModelPool:
    """Admission for every request, and the engines started on demand."""

    def __init__(self, supervisor: Supervisor, launcher: Launcher, settings: PoolSettings) -> None:
        self.supervisor = supervisor
        self.launcher = launcher
        self.settings = settings
        self.history: deque[dict[str, Any]] = deque(maxlen=100)
        self._usage: dict[str, Usage] = {}
        self._loading: dict[str, asyncio.Task[ManagedEngine]] = {}
        self._arrivals = Arrivals()
        """Explicit launches and wake-ups under way, by the names they will serve."""
        self._sleeping: dict[str, ManagedEngine] = {}
        """Engines launched with an idle TTL that were unloaded after idling, by served
        name: still listed, launched again by their next request."""
        self._evicting: set[str] = set()
        self._load_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._budget: Budget | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing = threading.Event()
        """Set at shutdown: pulls for on-demand loads stop at their next chunk."""

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

    async def _take_slot(self, model: str, usage: Usage) -> None:
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

    def _usage_of(self, engine: ManagedEngine) -> Usage:
        usage = self._usage.get(engine.name)
        if usage is None:
            limit = self._limit(engine)
            usage = Usage(SlotQueue(limit, self._queue_bound(limit)))
            self._usage[engine.name] = usage
        return usage

    def _limit(self, engine: ManagedEngine) -> int:
        """Requests served at once: the offer's, else the pool's, else the engine's own
        parallel slots (more would only queue inside the engine, unbounded and unseen)."""
        offer = self.offer_named(engine.name)
        if offer is not None and offer.max_concurrent is not None:
            return offer.max_concurrent
        if self.settings.max_concurrent is not None:
            return self.settings.max_concurrent
        slots = engine.spec.slots if engine.spec else None
        return slots or 0

    def _queue_bound(self, limit: int) -> int:
        if self.settings.max_queue is not None:
            return self.settings.max_queue
        return self.settings.queue_per_slot * max(1, limit)

    async def _engine_for(self, model: str) -> ManagedEngine:
        deadline = time.monotonic() + self.settings.load_timeout_s
        while True:
            engine = self.supervisor.find(model)
            launch = self._arrivals.get(model)
            if launch is not None and (engine is None or engine.state == EngineState.STARTING):
                left = deadline - time.monotonic()
                await arrivals.wait_for(model, launch, left, self.settings.load_timeout_s)
                continue
            if engine is not None and engine.name not in self._evicting:
                return engine
            if engine is None:
                sleeper = self.sleeper(model)
                if sleeper is not None:
                    self._wake(sleeper)
                    continue
                return await self._load_offered(model)
            await self._wait_changed(deadline, f"'{model}' is being unloaded")

    async def _load_offered(self, model: str) -> ManagedEngine:
        offer = await self._offer_for(model)
        if offer is not None:
            return await self._await_load(offer)
        waited_s = await self._launch_announced(model)
        if waited_s is None:
            return await self._engine_for(model)
        served = [e.name for e in (*self.supervisor.engines(), *self.sleeping())]
        offered = [o.name for o in self.settings.models]
        raise ModelNotServedError(model, served, offered, waited_s)

    async def _launch_announced(self, model: str) -> float | None:
        """None once a launch of `model` has reached the server, else how long it was
        waited for: pool.launch_grace_s for a name a launch could be starting (a catalog or
        local model), 0 for any other name."""
        grace = self.settings.launch_grace_s
        if not grace or not await asyncio.to_thread(self.launcher.could_launch, model):
            return 0.0
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self._arrivals.get(model) is not None or self.supervisor.find(model) is not None:
                return None
            await asyncio.sleep(ANNOUNCE_POLL_S)
        return grace

    def waits_for(self, model: str) -> bool:
        """Whether a request for `model` would wait for a launch, a wake-up or a load (the
        gateway then watches for its client leaving meanwhile)."""
        engine = self.supervisor.find(model)
        return engine is None or engine.state == EngineState.STARTING

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
        except asyncio.CancelledError:
            if not task.cancelled() or being_cancelled():
                raise
            message = f"The server is shutting down; loading '{offer.name}' was cancelled."
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
                offer.profile, f"in the server's settings ([[pool.models]] {offer.name})",
            )  # fmt: skip
            await self._refuse_before_pull(offer)
            request = await asyncio.to_thread(
                self.launcher.prepare, order, cancel=self._closing, on_demand=True
            )
            await self._make_room(request)
            engine = await self.supervisor.launch(request)
            self._usage_of(engine).touch()  # the idle clock starts when it is ready
            self._record("loaded", engine, "first request for it")
            return engine

    async def _refuse_before_pull(self, offer: OfferedModel) -> None:
        """507 before a download: a catalog model (for llama.cpp) whose weights alone are
        more than the budget can ever give is not pulled only to be refused."""
        if offer.engine not in (None, "llama.cpp"):
            return
        launcher = self.launcher
        need = await asyncio.to_thread(
            weights_bytes_before_pull, offer.model, launcher.catalog, launcher.registry
        )
        budget = await self.budget()
        if need is not None and need > budget.bytes - self._pinned_bytes():
            raise OverBudgetError(
                f"'{offer.name}' ({offer.model}) has {need / GIB:.2f} GiB of weights alone, "
                f"more than the {budget.bytes / GIB:.2f} GiB budget leaves beside the engines "
                "launched explicitly; not downloaded. Raise pool.memory_budget_gib or pick a "
                "smaller quant"
            )

    async def launch_order(self, order: LaunchOrder) -> ManagedEngine:
        """Prepare and launch what a user asked for; from now until it is ready, requests
        for the names it will serve wait for it."""
        task = asyncio.create_task(self._prepare_and_launch(order), name=f"launch {order.model}")
        self._arrivals.add(self._unserved(order.known_names()), task)
        return await task

    async def _prepare_and_launch(self, order: LaunchOrder) -> ManagedEngine:
        request = await asyncio.to_thread(self.launcher.prepare, order)
        return await self.launch(request)

    async def launch(self, request: LaunchRequest) -> ManagedEngine:
        """An explicit launch: requests for its names wait for it while it starts."""
        return await self._start_launch(request)

    def expect(self, names: tuple[str, ...], launch: asyncio.Future[Any]) -> None:
        """Requests for `names` wait for `launch` to end (a server started with models to
        launch knows their names before it listens)."""
        self._arrivals.add(self._unserved(names), launch)

    def _start_launch(self, request: LaunchRequest) -> asyncio.Task[ManagedEngine]:
        task = asyncio.create_task(self._launch(request), name=f"launch {request.served_name}")
        self._arrivals.add(self._unserved(request.names), task)
        return task

    def _unserved(self, names: tuple[str, ...]) -> list[str]:
        """Of `names`, those no running engine answers to (a request for a served one goes
        to that engine, whatever a second launch of the name does)."""
        return [name for name in names if self.supervisor.find(name) is None]

    async def _launch(self, request: LaunchRequest) -> ManagedEngine:
        """Idle on-demand engines make room for it if the budget is short; it is never
        refused for the budget (its own fit check already passed)."""
        async with self._load_lock:
            if self.active:
                with contextlib.suppress(OverBudgetError, PoolBusyError):
                    await self._make_room(request, wait=False)
            engine = await self.supervisor.launch(request)
        self._sleeping.pop(engine.name, None)
        self._usage_of(engine).touch()  # the idle clock starts when it is ready
        self._watch_idle()
        return engine

    # -- sleeping and waking ---------------------------------------------------------

    def sleeper(self, model: str) -> ManagedEngine | None:
        """The sleeping engine for `model`: by served name or alias, else by local model id."""
        sleeping = self._sleeping.values()
        named = (e for e in sleeping if model in e.request.names)
        by_model = (e for e in sleeping if model == e.request.model.id)
        return next(named, None) or next(by_model, None)

    def request_for(self, name: str) -> LaunchRequest:
        """What the engine `name` runs with, running or asleep (the supervisor's not-found
        error when neither)."""
        engine = self.supervisor.find(name) or self.sleeper(name)
        return engine.request if engine else self.supervisor.get(name).request

    def sleeping(self) -> list[ManagedEngine]:
        """The engines asleep; one still being put to sleep is listed by the supervisor,
        as stopping, until its process is gone (never twice)."""
        return [e for e in self._sleeping.values() if self.supervisor.find(e.name) is None]

    def _wake(self, sleeper: ManagedEngine) -> None:
        if self._arrivals.get(sleeper.name) is not None:
            return
        task = self._start_launch(sleeper.request)
        task.add_done_callback(functools.partial(arrivals.log_failure, f"waking {sleeper.name}"))
        self._record("woken", sleeper, "a request for it")

    async def _sleep(self, engine: ManagedEngine, why: str) -> None:
        self._sleeping[engine.name] = engine
        await self._evict(engine, why, "asleep")

    async def stop(self, name: str, reason: str = "stopped by a user") -> dict[str, Any]:
        """Stop an engine by name or alias, remembering who asked; a sleeping one is
        forgotten."""
        sleeper = self.sleeper(name)
        if sleeper is not None:
            # forgotten even while it is still being put to sleep, so it does not come back
            del self._sleeping[sleeper.name]
            if self.supervisor.find(name) is None:
                self._record("stopped", sleeper, reason)
                return sleeper.status()
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
        self._watch_idle()

    def _watch_idle(self) -> None:
        """Start the reaper once anything has an idle TTL."""
        if self._ttls() and self._reaper is None:
            self._reaper = asyncio.create_task(self._reap(), name="pool reaper")

    def _ttls(self) -> list[float]:
        return every_ttl(self.settings, self.supervisor.engines())

    def cancel_loads(self) -> None:
        """At shutdown: stop pulling and loading models for requests (each gets a 503 at
        once instead of holding up the shutdown until its graceful time is over)."""
        self._closing.set()
        for task in list(self._loading.values()):
            task.cancel()

    async def close(self) -> None:
        self.cancel_loads()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def _reap(self) -> None:
        while True:
            # a quarter of the shortest TTL, so none is overrun by much
            tick = min(30.0, max(0.25, min(self._ttls(), default=120.0) / 4))
            await asyncio.sleep(tick)
            for engine in self.supervisor.engines():
                if engine.state != EngineState.READY:
                    continue  # starting or restarting: idle only once it can answer
                await self._reap_one(engine, tick)

    async def _reap_one(self, engine: ManagedEngine, tick: float) -> None:
        ttl = self._ttl(engine)
        usage = self._usage_of(engine)
        idle_s = time.monotonic() - usage.last_used
        # idle for at least one tick: a request that was just handed the engine has its
        # slot well within that
        idle = usage.slots.idle and idle_s >= max(ttl, tick)
        if not (ttl and idle and engine.name not in self._evicting):
            return
        if engine.request.on_demand:
            await self._evict(
                engine, f"unloaded after {idle_s:.0f} s idle (idle_ttl_s = {ttl:g})", "unloaded"
            )
        elif sleeps(engine):
            await self._sleep(engine, f"asleep after {idle_s:.0f} s idle (--idle-ttl {ttl:g})")

    def _ttl(self, engine: ManagedEngine) -> float:
        return idle_ttl(engine, self.settings)

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
            "max_concurrent": (usage.slots.limit or None) if usage else None,
            "max_queue": usage.slots.max_waiting if usage else None,
            "idle_ttl_s": self._ttl(engine) or None,
        }

    async def status(self) -> dict[str, Any]:
        budget = await self.budget() if self.active else None
        loaded = {e.name for e in self.supervisor.engines()}
        return {
            "budget_bytes": budget.bytes if budget else None,
            "budget_basis": budget.basis if budget else "no budget: nothing offered on demand",
            "used_bytes": self.used_bytes(),
            "loading": sorted({*self._loading, *self._arrivals.names()}),
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
