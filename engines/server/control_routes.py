"""The control API under /api: launch, list, stop and restart engines. Token required."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog import (
    AccessDeniedError,
    CatalogError,
    DoesNotFitError,
    InsufficientDiskError,
    InvalidModelFileError,
    ModelNotFoundError,
    QuantNotAvailableError,
)
from engines.errors import (
    EngineError,
    EngineExistsError,
    EngineNotFoundError,
    EngineStartError,
    EngineUnavailableError,
    UnknownEngineError,
    UnsupportedOptionError,
)
from engines.launching import LaunchOrder
from engines.process import log_tail
from engines.server.auth import bearer_check
from engines.server.errors import (
    INVALID_REQUEST,
    NOT_FOUND,
    SERVER,
    ApiError,
    from_validation_error,
)
from engines.server.state import ServerState
from engines.supervisor import EngineState, ManagedEngine
from hardware import snapshot_to_dict
from profiles.library import ProfileError

_STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (ModelNotFoundError, 404),
    (QuantNotAvailableError, 404),
    (EngineNotFoundError, 404),
    (InvalidModelFileError, 400),
    (UnknownEngineError, 400),
    (EngineUnavailableError, 400),
    (UnsupportedOptionError, 400),
    (EngineExistsError, 409),
    (ProfileError, 400),
    (AccessDeniedError, 403),
    (InsufficientDiskError, 507),
    (DoesNotFitError, 507),
    (EngineStartError, 502),
)


def api_error_from(error: Exception) -> ApiError:
    """Core errors as OpenAI-shaped API errors, with a status that says whose fault it is."""
    if isinstance(error, ValidationError):
        return from_validation_error(error)
    status = next((code for kind, code in _STATUS_BY_ERROR if isinstance(error, kind)), 502)
    type_ = NOT_FOUND if status == 404 else INVALID_REQUEST if status < 500 else SERVER
    return ApiError(status, str(error), type_, code=type(error).__name__)


class LaunchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="Catalog id, id:QUANT, local id or .gguf path.")
    engine: str | None = Field(None, description="Engine; default: the profile's, else llama.cpp.")
    options: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    profile: str | None = Field(None, description="Launch profile; default: matches hardware.")


def control_router(state: ServerState) -> APIRouter:
    check_token = bearer_check(state.control_token, "control token")
    router = APIRouter(prefix="/api", dependencies=[Depends(check_token)])
    add_engine_routes(router, state)
    add_record_routes(router, state)
    return router


def add_engine_routes(router: APIRouter, state: ServerState) -> None:
    """List, launch, stop engines and read their logs."""
    supervisor = state.supervisor

    @router.get("/engines")
    async def list_engines() -> list[dict[str, Any]]:
        """Each engine's status with its use (requests in flight and queued, last use) and,
        where the engine publishes them, live figures from its own metrics (vLLM's KV
        cache)."""
        engines = supervisor.engines()
        live = await asyncio.gather(*(live_report(state, e) for e in engines))
        return [
            {**e.status(), **state.pool.usage(e), "live": found}
            for e, found in zip(engines, live, strict=True)
        ]

    @router.get("/pool")
    async def pool_status() -> dict[str, Any]:
        """Memory budget and use, the models offered on demand, and what was unloaded why."""
        return await state.pool.status()

    @router.post("/engines", status_code=201)
    async def launch(body: LaunchBody) -> dict[str, Any]:
        order = LaunchOrder(
            body.model, body.engine, body.options, body.name, tuple(body.aliases), body.profile
        )
        try:
            request = await asyncio.to_thread(state.launcher.prepare, order)
            engine = await state.pool.launch(request)
        except (CatalogError, EngineError, ProfileError, ValidationError) as error:
            raise api_error_from(error) from None
        return engine.status()

    @router.delete("/engines/{name:path}")
    async def stop(name: str) -> dict[str, Any]:
        try:
            return await state.pool.stop(name, "stopped through the control API")
        except EngineError as error:
            raise api_error_from(error) from None

    @router.get("/engines/{name:path}/log")
    async def engine_log(name: str, lines: int = Query(50, ge=1, le=5000)) -> dict[str, Any]:
        try:
            engine = supervisor.get(name)
        except EngineError as error:
            raise api_error_from(error) from None
        return {"name": engine.name, "lines": log_tail(engine.log_path, lines)}


async def live_report(state: ServerState, engine: ManagedEngine) -> dict[str, Any] | None:
    """The engine's own figures (None if it has none or does not answer within a second)."""
    spec, adapter = engine.spec, engine.request.adapter
    if spec is None or spec.metrics_path is None or not adapter.reports_metrics:
        return None
    if engine.state != EngineState.READY:
        return None
    timeout = aiohttp.ClientTimeout(total=1.0)
    url = engine.base_url + spec.metrics_path
    try:
        async with state.upstream.session.get(
            url, timeout=timeout, headers=dict(spec.upstream_headers)
        ) as response:
            text = await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return None
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
        return await asyncio.to_thread(state.store.engine_events, engine, limit)
