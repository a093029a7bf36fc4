"""The hostbench server application: OpenAI API, control API and health, on one port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from serving.control_auth import challenge_router
from serving.control_routes import control_router
from serving.endpoints import FORWARDED
from serving.errors import install_handlers
from serving.guard import GuardPolicy, RequestGuard
from serving.metrics_routes import live_metrics_router, prometheus_router
from serving.openai_routes import OpenAIForwarding, openai_router
from serving.openapi import install_openapi
from serving.state import ServerState

SERVICE_NAME = "hostbench"


def create_app(state: ServerState) -> RequestGuard:
    """Build the app around `state`; the app owns it from startup to shutdown.

    Every request passes the guard (Host, Origin, Content-Type, body size) first; then the
    forwarded OpenAI endpoints go straight to the gateway and the rest to FastAPI."""

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
    allow_remote = state.settings.server.allow_remote_control
    app.include_router(challenge_router(state.control_token, allow_remote))
    app.include_router(control_router(state))
    app.include_router(live_metrics_router(state))
    app.include_router(prometheus_router(state))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        engines = {engine.name: str(engine.state) for engine in state.supervisor.engines()}
        return {"service": SERVICE_NAME, "status": "ok", "engines": engines}

    install_openapi(app, FORWARDED)
    policy = GuardPolicy.from_settings(state.settings.server)
    return RequestGuard(OpenAIForwarding(app, state), policy, frozenset(FORWARDED))
