"""`/metrics` (Prometheus text) and the live-metrics control API a dashboard follows.

- `GET /metrics`: our request metrics, rolling windows, the engines' own metrics and states;
  open on loopback like /v1, and behind the API key when one is set.
- `GET /api/metrics/live`: one LiveMetrics snapshot (JSON); token required.
- `GET /api/metrics/stream?interval_s=1`: the same snapshot as a server-sent event every
  interval until the client leaves; token required.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from engines.supervisor import EngineState
from serving.auth import api_key_check
from serving.control_auth import control_check
from serving.engine_metrics import METRICS_PATHS, EngineEndpoint
from serving.prometheus import CONTENT_TYPE
from serving.state import ServerState


def engine_endpoints(state: ServerState) -> list[EngineEndpoint]:
    """Ready engines whose runtime publishes Prometheus metrics."""
    found = []
    for engine in state.supervisor.engines():
        spec = engine.spec
        if engine.state == EngineState.READY and spec and spec.runtime in METRICS_PATHS:
            url = engine.base_url + METRICS_PATHS[spec.runtime]
            found.append(EngineEndpoint(engine.name, spec.runtime, url, spec.upstream_headers))
    return found


def engine_states(state: ServerState) -> dict[str, str]:
    """Each engine's state by served name: the running ones, then the sleeping ones."""
    states = {engine.name: str(engine.state) for engine in state.supervisor.engines()}
    states.update({engine.name: "sleeping" for engine in state.pool.sleeping()})
    return states


def prometheus_router(state: ServerState) -> APIRouter:
    router = APIRouter(dependencies=[Depends(api_key_check(state.settings.server.api_key))])

    @router.get("/metrics")
    async def metrics() -> Response:
        endpoints, states = engine_endpoints(state), engine_states(state)
        body = await state.metrics.render(state.upstream, endpoints, states)
        return Response(body, media_type=CONTENT_TYPE)

    return router


def live_metrics_router(state: ServerState) -> APIRouter:
    allow_remote = state.settings.server.allow_remote_control
    check_token = control_check(state.control_token, allow_remote)
    router = APIRouter(prefix="/api/metrics", dependencies=[Depends(check_token)])

    @router.get("/live")
    async def live() -> dict[str, Any]:
        return {**state.live.snapshot(), "totals": _totals(state)}

    @router.get("/stream")
    async def stream(
        request: Request, interval_s: float = Query(1.0, ge=0.1, le=60.0)
    ) -> StreamingResponse:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        events = _events(request, state, interval_s)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    return router


def _totals(state: ServerState) -> dict[str, Any]:
    totals = state.live.totals()
    return {
        "requests": [
            {"model": m, "status": s, "count": n} for (m, s), n in totals["requests"].items()
        ],
        "tokens": [{"model": m, "kind": k, "count": n} for (m, k), n in totals["tokens"].items()],
    }


async def _events(request: Request, state: ServerState, interval_s: float) -> AsyncIterator[bytes]:
    while not await request.is_disconnected():
        snapshot = {**state.live.snapshot(), "totals": _totals(state)}
        yield f"event: metrics\ndata: {strict_json(snapshot)}\n\n".encode()
        await asyncio.sleep(interval_s)


def strict_json(data: Any) -> str:
    """JSON that strict parsers (browsers' JSON.parse) accept: a figure with no samples
    (NaN, infinity) is null, as `/api/metrics/live` sends it."""
    return json.dumps(_finite(data), allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data
