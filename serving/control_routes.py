"""The control API under /api: launch, list, stop and restart engines. Token required."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from catalog import (
    CatalogError,
)
from control.api import EngineLog, EngineStatus, LaunchBody, PoolStatus
from control.requests import profile_only_option, relative_model_path
from engines.errors import (
    EngineError,
)
from engines.http_client import ENGINE_HTTP_FAILURES
from engines.memory_check import measured_memory
from engines.process import log_tail
from engines.supervisor import EngineState, ManagedEngine
from hardware import snapshot_to_dict
from profiles.library import ProfileError
from serving.control_auth import control_check
from serving.errors import (
    ApiError,
    api_error_from,
)
from serving.state import ServerState
from workflows.launching import LaunchOrder


def control_router(state: ServerState) -> APIRouter:
    check = control_check(state.control_token, state.settings.server.allow_remote_control)
    router = APIRouter(prefix="/api", dependencies=[Depends(check)])
    add_engine_routes(router, state)
    add_restart_route(router, state)
    add_record_routes(router, state)
    return router


def add_engine_routes(router: APIRouter, state: ServerState) -> None:
    """List, launch, stop engines and read their logs."""
    supervisor = state.supervisor

    @router.get("/engines")
    async def list_engines() -> list[EngineStatus]:
        """Each engine's status with its use (requests in flight and queued, last use) and,
        where the engine publishes them, live figures from its own metrics (vLLM's KV
        cache)."""
        engines = supervisor.engines()
        live = await asyncio.gather(*(live_report(state, e) for e in engines))
        sampled = state.sampler.latest()
        processes = {p.name: p for p in sampled.processes} if sampled else {}
        running = [
            engine_status(
                state, e, **measured_memory(e.request.memory, processes.get(e.name)), live=found
            )
            for e, found in zip(engines, live, strict=True)
        ]
        return running + [sleeping_status(state, e) for e in state.pool.sleeping()]

    @router.get("/pool")
    async def pool_status() -> PoolStatus:
        """Memory budget and use, the models offered on demand, and what was unloaded why."""
        return PoolStatus.model_validate(await state.pool.status())

    @router.post("/engines", status_code=201)
    async def launch(body: LaunchBody) -> EngineStatus:
        refuse_unsafe_launch(body)
        order = LaunchOrder.from_body(body)
        try:
            engine = await state.pool.launch_order(order)
        except (CatalogError, EngineError, ProfileError, ValidationError) as error:
            raise api_error_from(error) from None
        return engine_status(state, engine)

    @router.delete("/engines/{name:path}")
    async def stop(name: str) -> EngineStatus:
        try:
            stopped = await state.pool.stop(name, "stopped through the control API")
            return EngineStatus.model_validate(stopped)
        except EngineError as error:
            raise api_error_from(error) from None

    @router.get("/engines/{name:path}/log")
    async def engine_log(name: str, lines: int = Query(50, ge=1, le=5000)) -> EngineLog:
        try:
            engine = supervisor.get(name)
        except EngineError as error:
            raise api_error_from(error) from None
        return EngineLog(name=engine.name, lines=log_tail(engine.log_path, lines))


def engine_status(server: ServerState, engine: ManagedEngine, **fields: Any) -> EngineStatus:
    """What the control API says about one engine: its status and its use in the pool;
    `fields` add to or override them."""
    usage = server.pool.usage(engine)
    return EngineStatus.model_validate({**engine.status(), **usage, **fields})


def sleeping_status(state: ServerState, engine: ManagedEngine) -> EngineStatus:
    """An engine put to sleep after idling: listed, no process, woken by a request."""
    return engine_status(state, engine, state="sleeping", pid=None, port=None, ready_at=None)


def add_restart_route(router: APIRouter, state: ServerState) -> None:
    """Restart an engine with what the server holds for it (secret options included)."""

    @router.post("/engines/{name:path}/restart")
    async def restart(name: str) -> EngineStatus:
        """Stop the engine and start it again with the options it runs with, secrets
        included: they never leave the server (the listing shows them masked). A sleeping
        engine is started the same way."""
        try:
            request = state.pool.request_for(name)
            await state.pool.stop(request.served_name, "restarted through the control API")
            engine = await state.pool.launch(request)
        except EngineError as error:
            raise api_error_from(error) from None
        return engine_status(state, engine)


def refuse_unsafe_launch(body: LaunchBody) -> None:
    """What a launch over the control API may not carry (control/requests.py)."""
    option = profile_only_option(body.options)
    if option is not None:
        raise ApiError(
            400,
            f"options.{option} is not accepted by the control API: whoever holds the token "
            "could run any program. Put it in a launch profile (hostbench profiles) and "
            "name that profile in 'profile'.",
            param=f"options.{option}",
            code="option_needs_profile",
        )
    if relative_model_path(body.model):
        raise ApiError(
            400,
            f"model {body.model!r} is a relative path, which the server would resolve in its "
            "own working directory: send an absolute path",
            param="model",
            code="relative_path",
        )


async def live_report(state: ServerState, engine: ManagedEngine) -> dict[str, Any] | None:
    """The engine's own figures (None if it has none or does not answer within a second)."""
    spec, adapter = engine.spec, engine.request.adapter
    if spec is None or spec.metrics_path is None or not adapter.reports_metrics:
        return None
    if engine.state != EngineState.READY:
        return None
    url = engine.base_url + spec.metrics_path
    try:
        status, body = await state.upstream.get(url, spec.upstream_headers, deadline_s=1.0)
    except ENGINE_HTTP_FAILURES:
        return None
    text = body.decode("utf-8", "replace") if status == 200 else None
    memory = engine.request.memory
    report = adapter.metrics_report(text, memory.bytes if memory else None) if text else None
    return dict(report) if report else None


def add_record_routes(router: APIRouter, state: ServerState) -> None:
    """Telemetry, recorded requests and engine events."""

    @router.get("/telemetry")
    async def telemetry() -> dict[str, Any]:
        """The newest hardware reading (taken now if the sampler has none yet)."""
        latest = state.sampler.latest() or await asyncio.to_thread(state.sampler.sample)
        return snapshot_to_dict(latest)

    @router.get("/telemetry/history")
    async def telemetry_history(since: float | None = None) -> list[dict[str, Any]]:
        """Readings newer than `since` (a unix time), oldest first, up to 15 minutes."""
        return [snapshot_to_dict(s) for s in state.sampler.history(since)]

    @router.get("/requests")
    async def requests(
        model: str | None = None, limit: int = Query(100, ge=1, le=10000)
    ) -> list[dict[str, Any]]:
        await asyncio.to_thread(state.recorder.flush)
        records = await asyncio.to_thread(state.store.requests, model, limit)
        return [record.as_row() for record in records]

    @router.get("/events")
    async def events(
        engine: str | None = None, limit: int = Query(100, ge=1, le=10000)
    ) -> list[dict[str, Any]]:
        events = await asyncio.to_thread(state.store.engine_events, engine, limit)
        return [event.as_row() for event in events]
