"""The OpenAI-compatible API under /v1."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from engines.supervisor import ManagedEngine
from profiles import OfferedModel
from serving.auth import api_key_check
from serving.endpoints import FORWARDED, Endpoint
from serving.errors import INVALID_REQUEST, NOT_FOUND, ApiError, internal_error
from serving.state import ServerState

log = logging.getLogger(__name__)


def model_object(engine: ManagedEngine, state: str | None = None) -> dict[str, Any]:
    """`state`: what to show instead of the engine's own (`sleeping`)."""
    status = engine.status()
    return {
        "id": engine.name,
        "object": "model",
        "created": int(status["started_at"] or 0),
        "owned_by": "hostbench",
        "aliases": status["aliases"],
        "engine": status["engine"],
        "state": state or status["state"],
        "context_length": status["context_limit"],
    }


def offer_object(offer: OfferedModel) -> dict[str, Any]:
    return {
        "id": offer.name,
        "object": "model",
        "created": 0,
        "owned_by": "hostbench",
        "aliases": list(offer.aliases),
        "engine": offer.engine,
        "state": "offered",
        "context_length": None,
    }


def openai_router(state: ServerState) -> APIRouter:
    check_key = api_key_check(state.settings.server.api_key)
    router = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @router.get("/models")
    async def list_models() -> dict[str, Any]:
        """Running engines, then the models offered on demand that are not loaded (clients
        discover models here; asking for one loads it)."""
        engines = state.supervisor.engines()
        data = [model_object(engine) for engine in engines]
        data += [model_object(engine, "sleeping") for engine in state.pool.sleeping()]
        loaded = {name for engine in engines for name in engine.request.names}
        data += [offer_object(o) for o in state.pool.settings.models if o.name not in loaded]
        return {"object": "list", "data": data}

    @router.get("/models/{model:path}")
    async def get_model(model: str) -> dict[str, Any]:
        engine = state.supervisor.find(model)
        if engine is not None:
            return model_object(engine)
        sleeper = state.pool.sleeper(model)
        if sleeper is not None:
            return model_object(sleeper, "sleeping")
        offer = state.pool.offer_named(model)
        if offer is None:
            message = f"The model '{model}' is not served here."
            raise ApiError(404, message, NOT_FOUND, param="model", code="model_not_found")
        return offer_object(offer)

    return router


class OpenAIForwarding:
    """The ASGI app in front of the FastAPI app: the forwarded endpoints go straight to the
    gateway, everything else (models, control API, metrics, health) to `app`.

    FastAPI's routing, dependency solving and middleware layers added about half a
    millisecond of CPU to every request on the 2-core test machine, paid before the first
    token on the path the gateway's overhead target is about (docs/benchmarks.md). Errors
    keep the OpenAI shape (Anthropic's on its routes); an unexpected one is logged and
    answered with a 500."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.gateway = state.gateway
        self.check_key = api_key_check(state.settings.server.api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = FORWARDED.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        response = await self._answer(Request(scope, receive), endpoint)
        await response(scope, receive, send)

    async def _answer(self, request: Request, endpoint: Endpoint) -> Response:
        try:
            if request.method != "POST":
                message = f"{request.url.path} takes POST."
                raise ApiError(405, message, INVALID_REQUEST, headers={"Allow": "POST"})
            await self.check_key(request)
            return await self.gateway.handle(request, endpoint)
        except ApiError as error:
            return error.response(endpoint.anthropic)
        except Exception as error:
            log.exception("%s failed", request.url.path)
            return internal_error(error).response(endpoint.anthropic)
