"""Supervising engine processes: start, wait until ready, watch, restart with backoff, stop.

Runs on the server's event loop (engines are spawned from its thread, which lives as long
as the server: the kernel's parent-death signal fires when the spawning thread exits). An
engine that dies unexpectedly is reported through the event callback, and started again
after a backoff that doubles with each consecutive crash. The backoff starts afresh once a
restarted engine has served: up for `engines.restart_reset_after_s`, or answered
`engines.restart_reset_after_requests` requests; only a real crash loop waits long. An
engine that stops answering while it has requests in flight is killed (its whole process
group) and restarted like a crashed one (engines/watchdog.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from catalog import LocalModel
from engines import process, watchdog
from engines.base import EngineAdapter, EngineOptions, LaunchSpec, MemoryPlan, with_access_key
from engines.errors import EngineExistsError, EngineNotFoundError, EngineStartError
from engines.runfiles import RunFiles
from profiles import EngineSettings
from storage import EngineEventRecord

log = logging.getLogger(__name__)


class EngineState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    CRASHED = "crashed"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class EngineEvent:
    """Something that happened to an engine, for the store and the front ends."""

    engine: str
    model: str
    kind: str
    """started | ready | hung | crashed | restart_failed | stopped"""
    at: float
    exit_code: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class LaunchRequest:
    """What to run: a local model, with an engine and its options, under a served name."""

    model: LocalModel
    adapter: EngineAdapter
    options: EngineOptions
    served_name: str
    aliases: tuple[str, ...] = ()
    memory: MemoryPlan | None = None
    """What the engine will hold, for the pool's memory budget."""
    on_demand: bool = False
    """Started for a request (may be evicted or unloaded when idle), not by a user."""
    idle_ttl_s: float | None = None
    """Launched by a user but put to sleep after this long idle, woken by its next request
    (None: runs until stopped). On-demand engines take theirs from the pool's settings."""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.served_name, *self.aliases)


@dataclass
class _Run:
    """Mutable facts about the current process of an engine."""

    state: EngineState = EngineState.STARTING
    spec: LaunchSpec | None = None
    proc: asyncio.subprocess.Process | None = None
    started_at: float | None = None
    ready_at: float | None = None
    restarts: int = 0
    consecutive_crashes: int = 0
    last_exit_code: int | None = None
    last_error: str | None = None
    retry_at: float | None = None
    log_tail: list[str] = field(default_factory=list)
    answered: int = 0
    """Requests answered in full by this process."""
    hung_for_s: float | None = None
    """Set when the watchdog killed this process: how long it had been silent."""
    run_file: Path | None = None


class ManagedEngine:
    """One supervised engine serving one model."""

    def __init__(
        self,
        request: LaunchRequest,
        settings: EngineSettings,
        log_dir: Path,
        on_event: Callable[[EngineEvent], None],
        run_files: RunFiles | None = None,
        *,
        access_key: Callable[[], str] | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self._access_key = access_key
        self.log_path = log_dir / f"{request.served_name.replace('/', '_')}.log"
        self._on_event = on_event
        self._run_files = run_files
        self._run = _Run()
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._restart_delay = settings.restart_backoff_s
        self.in_flight = 0

    @property
    def name(self) -> str:
        return self.request.served_name

    @property
    def state(self) -> EngineState:
        return self._run.state

    @property
    def spec(self) -> LaunchSpec | None:
        return self._run.spec

    @property
    def base_url(self) -> str:
        assert self._run.spec is not None
        return f"http://127.0.0.1:{self._run.spec.port}"

    @property
    def hung_for_s(self) -> float | None:
        """How long the current (or just killed) process was silent, if the watchdog
        killed it."""
        return self._run.hung_for_s

    def retry_after_s(self) -> int:
        """A client's best wait before retrying while the engine is not ready: the rest of
        the restart backoff, plus a moment to load."""
        if self._run.state == EngineState.CRASHED and self._run.retry_at is not None:
            return max(1, round(self._run.retry_at - time.time()) + 1)
        if self._run.state == EngineState.CRASHED:
            return max(1, round(self._restart_delay) + 1)
        return 2

    def request_started(self) -> None:
        self.in_flight += 1

    def request_finished(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)

    def answered(self) -> None:
        """A request was answered in full: enough of them and the backoff starts afresh."""
        run = self._run
        run.answered += 1
        if run.answered >= self.settings.restart_reset_after_requests:
            self._restart_delay = self.settings.restart_backoff_s

    def _emit(self, kind: str, exit_code: int | None = None, detail: str | None = None) -> None:
        event = EngineEvent(self.name, self.request.model.id, kind, time.time(), exit_code, detail)
        try:
            self._on_event(event)
        except Exception:
            log.exception("engine event handler failed for %s", event)

    async def start(self) -> None:
        """Start the process and wait until it answers; raise EngineStartError if it can't."""
        port = process.free_port()
        request = self.request
        spec = request.adapter.launch_spec(request.model, self.name, request.options, port)
        if self._access_key is not None:
            spec = with_access_key(spec, self._access_key())
        run = self._run
        run.spec, run.state, run.started_at, run.ready_at = (
            spec,
            EngineState.STARTING,
            time.time(),
            None,
        )
        self._write_log_header(spec)
        run.answered, run.hung_for_s = 0, None
        run.proc = await process.spawn(spec.argv, self.log_path, spec.env)
        if self._run_files is not None:
            run.run_file = self._run_files.write(self.name, run.proc.pid, spec.argv)
        self._emit("started")
        try:
            await self._wait_ready(spec, run.proc)
        except BaseException as error:
            await self._terminate(grace_s=2.0)
            if isinstance(error, EngineStartError):
                run.last_error, run.log_tail = error.summary, error.log_tail
            raise
        run.state, run.ready_at, run.last_error = EngineState.READY, time.time(), None
        self._emit("ready")
        self._watcher = asyncio.create_task(self._watch(run.proc), name=f"watch {self.name}")
        self._watchdog = asyncio.create_task(self._guard(run.proc), name=f"guard {self.name}")

    async def _terminate(self, grace_s: float) -> int | None:
        run = self._run
        if run.proc is None:
            return None
        code = await process.terminate(run.proc, grace_s)
        if self._run_files is not None:
            self._run_files.remove(run.run_file)
        return code

    async def _guard(self, proc: asyncio.subprocess.Process) -> None:
        """Kill the engine's process group once the watchdog finds it hung; `_watch`
        then restarts it like a crashed one."""
        spec = self._run.spec
        assert spec is not None
        silent = await watchdog.watch(
            self.base_url,
            spec.liveness_path or spec.health_path,
            spec.upstream_headers,
            self.settings,
            busy=lambda: self.in_flight > 0,
        )
        if proc.returncode is None and not self._stopping:
            self._run.hung_for_s = silent
            detail = f"answered no health check for {silent:.1f} s while serving; killed"
            log.warning("engine %s is hung: %s", self.name, detail)
            self._emit("hung", None, detail)
            process.kill_group(proc)

    def _write_log_header(self, spec: LaunchSpec) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        process.rotate_log(self.log_path)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_path.open("a") as log_file:
            log_file.write(f"\n=== hostbench {stamp}: starting {' '.join(spec.argv)}\n")

    async def _wait_ready(self, spec: LaunchSpec, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        base = f"http://127.0.0.1:{spec.port}"
        headers = dict(spec.upstream_headers)
        async with httpx.AsyncClient(base_url=base, timeout=2.0, headers=headers) as client:
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    raise self._start_error(f"exited with code {proc.returncode} while loading")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    if await self._answers(client, spec):
                        return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 0.1)
        raise self._start_error(f"was not ready after {self.settings.ready_timeout_s:.0f} s")

    async def _answers(self, client: httpx.AsyncClient, spec: LaunchSpec) -> bool:
        """Healthy, and (where the runtime says to look) listing the served name."""
        if (await client.get(spec.health_path)).status_code != 200:
            return False
        if spec.models_path is None:
            return True
        listed = (await client.get(spec.models_path)).json().get("data", [])
        return any(isinstance(m, dict) and m.get("id") == self.name for m in listed)

    def _start_error(self, what: str) -> EngineStartError:
        runtime = self._run.spec.runtime if self._run.spec else "engine"
        message = f"{runtime} for {self.name!r} {what} (log: {self.log_path})"
        return EngineStartError(message, process.log_tail(self.log_path))

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        if self._stopping:
            return
        await self._terminate(grace_s=0)  # what the engine started goes with it
        run = self._run
        uptime = time.time() - (run.ready_at or time.time())
        if uptime >= self.settings.restart_reset_after_s:
            self._restart_delay = self.settings.restart_backoff_s
        run.state, run.last_exit_code = EngineState.CRASHED, code
        run.log_tail = process.log_tail(self.log_path)
        run.last_error = (
            f"stopped responding ({run.hung_for_s:.0f} s without an answer) and was killed"
            if run.hung_for_s is not None
            else f"exited unexpectedly with code {code}"
        )
        self._emit("crashed", code, "\n".join(run.log_tail[-5:]))
        await self._restart_loop()

    async def _restart_loop(self) -> None:
        run = self._run
        while not self._stopping:
            delay = self._restart_delay
            self._restart_delay = min(delay * 2, self.settings.restart_backoff_max_s)
            run.retry_at = time.time() + delay
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self.start()
            except EngineStartError as error:
                self._emit("restart_failed", run.last_exit_code, error.summary)
                run.state = EngineState.CRASHED
                continue
            run.restarts += 1
            run.retry_at = None
            return

    async def stop(self, grace_s: float = 5.0, reason: str | None = None) -> None:
        self._stopping = True
        self._run.state = EngineState.STOPPING
        for task in (self._watchdog, self._watcher):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._run.proc is not None:
            self._run.last_exit_code = await self._terminate(grace_s)
        self._run.state = EngineState.STOPPED
        self._emit("stopped", self._run.last_exit_code, reason)

    def status(self) -> dict[str, Any]:
        run, spec, model = self._run, self._run.spec, self.request.model
        memory = self.request.memory
        return {
            "name": self.name,
            "aliases": list(self.request.aliases),
            "engine": self.request.adapter.engine_id,
            "runtime": spec.runtime if spec else None,
            "model": model.id,
            "model_path": str(model.path),
            "port": spec.port if spec else None,
            "pid": run.proc.pid if run.proc and run.proc.returncode is None else None,
            "state": str(run.state),
            "started_at": run.started_at,
            "ready_at": run.ready_at,
            "restarts": run.restarts,
            "last_exit_code": run.last_exit_code,
            "last_error": run.last_error,
            "retry_at": run.retry_at,
            "in_flight": self.in_flight,
            "context_limit": spec.context_limit if spec else None,
            "options": self.request.options.model_dump(mode="json"),
            "log_path": str(self.log_path),
            "on_demand": self.request.on_demand,
            "memory_bytes": memory.bytes if memory else None,
            "memory_basis": memory.basis if memory else None,
        }


class Supervisor:
    """All engines of one server, by served name."""

    def __init__(
        self,
        settings: EngineSettings,
        log_dir: Path,
        on_event: Callable[[EngineEvent], None] = lambda event: None,
        run_files: RunFiles | None = None,
        access_key: Callable[[], str] | None = None,
    ) -> None:
        """`access_key`, where given, makes each engine's API key as it starts (a runtime
        that takes one then answers only those who have it: `engines.base.with_access_key`)."""
        self.settings = settings
        self.log_dir = log_dir
        self._on_event = on_event
        self.run_files = run_files
        self._access_key = access_key
        self._engines: dict[str, ManagedEngine] = {}

    def engines(self) -> list[ManagedEngine]:
        return list(self._engines.values())

    def pids(self) -> dict[str, int]:
        """Served name -> pid of each live engine process, for the telemetry sampler."""
        found = {engine.name: engine.status()["pid"] for engine in self._engines.values()}
        return {name: pid for name, pid in found.items() if pid is not None}

    def find(self, model_name: str) -> ManagedEngine | None:
        """The engine serving `model_name`: by served name or alias, else by local model id
        (`smollm2-135m-instruct:Q4_1`), the first engine of that model winning."""
        engines = self._engines.values()
        named = (e for e in engines if model_name in e.request.names)
        by_model = (e for e in engines if model_name == e.request.model.id)
        return next(named, None) or next(by_model, None)

    def get(self, name: str) -> ManagedEngine:
        engine = self._engines.get(name) or self.find(name)
        if engine is None:
            running = ", ".join(self._engines) or "none"
            raise EngineNotFoundError(f"no engine named {name!r}; running: {running}")
        return engine

    async def launch(self, request: LaunchRequest) -> ManagedEngine:
        taken = [name for name in request.names if self.find(name) is not None]
        if taken:
            raise EngineExistsError(f"{', '.join(taken)} is already served; stop it first")
        engine = ManagedEngine(
            request,
            self.settings,
            self.log_dir,
            self._on_event,
            self.run_files,
            access_key=self._access_key,
        )
        self._engines[engine.name] = engine
        try:
            await engine.start()
        except BaseException:
            self._engines.pop(engine.name, None)
            raise
        return engine

    async def stop(self, name: str, reason: str | None = None) -> dict[str, Any]:
        engine = self.get(name)
        await engine.stop(reason=reason)
        self._engines.pop(engine.name, None)
        return engine.status()

    async def stop_all(self) -> None:
        engines = list(self._engines.values())
        self._engines.clear()
        await asyncio.gather(*(engine.stop() for engine in engines), return_exceptions=True)


def event_record(event: EngineEvent) -> EngineEventRecord:
    return EngineEventRecord(**asdict(event))
