"""The OpenAI-compatible API under /v1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from engines.server.auth import require_bearer
from engines.server.errors import NOT_FOUND, ApiError
from engines.server.gateway import CHAT, COMPLETIONS, EMBEDDINGS
from engines.server.state import ServerState
from engines.supervisor import ManagedEngine
from profiles import OfferedModel


def model_object(engine: ManagedEngine) -> dict[str, Any]:
    status = engine.status()
    return {
        "id": engine.name,
        "object": "model",
        "created": int(status["started_at"] or 0),
        "owned_by": "hostbench",
        "aliases": status["aliases"],
        "engine": status["engine"],
        "state": status["state"],
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
    api_key = state.settings.server.api_key

    def check_key(request: Request) -> None:
        if api_key is not None:
            require_bearer(request, api_key.get_secret_value(), "API key")

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @router.get("/models")
    async def list_models() -> dict[str, Any]:
        """Running engines, then the models offered on demand that are not loaded (clients
        discover models here; asking for one loads it)."""
        data = [model_object(engine) for engine in state.supervisor.engines()]
        loaded = {name for engine in state.supervisor.engines() for name in engine.request.names}
        data += [offer_object(o) for o in state.pool.settings.models if o.name not in loaded]
        return {"object": "list", "data": data}

    @router.get("/models/{model:path}")
    async def get_model(model: str) -> dict[str, Any]:
        engine = state.supervisor.find(model)
        if engine is not None:
            return model_object(engine)
        offer = state.pool.offer_named(model)
        if offer is None:
            message = f"The model '{model}' is not served here."
            raise ApiError(404, message, NOT_FOUND, param="model", code="model_not_found")
        return offer_object(offer)

    @router.post("/chat/completions")
    async def chat(request: Request) -> Response:
        return await state.gateway.handle(request, CHAT)

    @router.post("/completions")
    async def completions(request: Request) -> Response:
        return await state.gateway.handle(request, COMPLETIONS)

    @router.post("/embeddings")
    async def embeddings(request: Request) -> Response:
        return await state.gateway.handle(request, EMBEDDINGS)

    return router
