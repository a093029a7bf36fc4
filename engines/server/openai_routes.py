"""The OpenAI-compatible API under /v1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from engines.server.auth import require_bearer
from engines.server.errors import NOT_FOUND, ApiError
from engines.server.gateway import CHAT, COMPLETIONS, EMBEDDINGS
from engines.server.state import ServerState
from engines.supervisor import ManagedEngine


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


def openai_router(state: ServerState) -> APIRouter:
    api_key = state.settings.server.api_key

    def check_key(request: Request) -> None:
        if api_key is not None:
            require_bearer(request, api_key.get_secret_value(), "API key")

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @router.get("/models")
    async def list_models() -> dict[str, Any]:
        data = [model_object(engine) for engine in state.supervisor.engines()]
        return {"object": "list", "data": data}

    @router.get("/models/{model:path}")
    async def get_model(model: str) -> dict[str, Any]:
        engine = state.supervisor.find(model)
        if engine is None:
            message = f"The model '{model}' is not served here."
            raise ApiError(404, message, NOT_FOUND, param="model", code="model_not_found")
        return model_object(engine)

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
