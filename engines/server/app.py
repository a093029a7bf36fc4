"""The hostbench server application: OpenAI API, control API and health, on one port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from engines.server.control_routes import control_router
from engines.server.errors import install_handlers
from engines.server.metrics_routes import live_metrics_router, prometheus_router
from engines.server.openai_routes import OpenAIForwarding, openai_router
from engines.server.state import ServerState

SERVICE_NAME = "hostbench"


def create_app(state: ServerState) -> OpenAIForwarding:
    """Build the app around `state`; the app owns it from startup to shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(title="hostbench", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.hostbench = state
    install_handlers(app)
    app.include_router(openai_router(state))
    app.include_router(control_router(state))
    app.include_router(live_metrics_router(state))
    app.include_router(prometheus_router(state))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        engines = {engine.name: str(engine.state) for engine in state.supervisor.engines()}
        return {"service": SERVICE_NAME, "status": "ok", "engines": engines}

    return OpenAIForwarding(app, state)
