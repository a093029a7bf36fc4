"""Mapping what an engine answered, or how it failed, to the gateway's OpenAI errors.

llama-server and llama-cpp-python word context overflow differently; clients get one
shape with the limit in it, so they can shorten the prompt without reading engine logs.
"""

from __future__ import annotations

import json
from typing import Any

from catalog import CatalogError, DoesNotFitError
from engines.errors import EngineStartError
from engines.pool import (
    ModelNotServedError,
    OverBudgetError,
    PoolBusyError,
    PoolError,
    QueueFullError,
)
from engines.server.errors import INVALID_REQUEST, NOT_FOUND, SERVER, UNAVAILABLE, ApiError
from engines.supervisor import ManagedEngine

RATE_LIMIT = "rate_limit_error"

CONTEXT_MARKERS = (
    "exceed_context_size_error",
    "exceeds the available context size",
    "context_length_exceeded",
    "maximum context length",
    "exceed context window",
)


def _error_fields(content: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(content)
    except ValueError:
        return {"message": content.decode(errors="replace")[:500]}
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed)
        if isinstance(inner, dict):
            return inner
        return {"message": str(inner)}
    return {"message": str(parsed)}


def is_context_overflow(fields: dict[str, Any]) -> bool:
    text = f"{fields.get('type', '')} {fields.get('code', '')} {fields.get('message', '')}"
    return any(marker in text for marker in CONTEXT_MARKERS)


def context_overflow(engine: ManagedEngine, prompt_param: str, fields: dict[str, Any]) -> ApiError:
    limit = engine.spec.context_limit if engine.spec else fields.get("n_ctx")
    prompt_tokens = fields.get("n_prompt_tokens")
    has = f", but the request has {prompt_tokens} prompt tokens" if prompt_tokens else ""
    message = (
        f"This model's maximum context length is {limit} tokens{has}. Shorten the "
        f"{prompt_param} or relaunch '{engine.name}' with a larger --ctx-size."
    )
    return ApiError(
        400, message, INVALID_REQUEST, param=prompt_param, code="context_length_exceeded"
    )


def from_engine_response(
    engine: ManagedEngine, status: int, content: bytes, prompt_param: str
) -> ApiError:
    """An engine's own 4xx/5xx, reshaped; context overflow gets the limit spelled out."""
    fields = _error_fields(content)
    if is_context_overflow(fields):
        return context_overflow(engine, prompt_param, fields)
    message = str(fields.get("message") or f"engine answered HTTP {status}")
    type_ = INVALID_REQUEST if 400 <= status < 500 else SERVER
    code = fields.get("code") if isinstance(fields.get("code"), str) else None
    return ApiError(status, message, type_, param=fields.get("param"), code=code)


def engine_failed(engine: ManagedEngine, error: BaseException) -> ApiError:
    """The engine dropped the connection: it crashed or was killed."""
    message = (
        f"The engine serving '{engine.name}' stopped while handling this request "
        f"({type(error).__name__}); hostbench is restarting it. Retry shortly."
    )
    headers = {"Retry-After": str(engine.retry_after_s())}
    return ApiError(502, message, SERVER, code="engine_crashed", headers=headers)


def empty_stream(engine: ManagedEngine) -> ApiError:
    """The engine ended a stream before sending anything: it failed without saying why."""
    message = (
        f"The engine serving '{engine.name}' ended the stream without an answer; "
        f"its log may say why ({engine.log_path})."
    )
    return ApiError(502, message, SERVER, code="engine_empty_stream")


_POOL_ANSWERS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (ModelNotServedError, 404, NOT_FOUND, "model_not_found"),
    (QueueFullError, 429, RATE_LIMIT, "model_queue_full"),
    (PoolBusyError, 503, UNAVAILABLE, "engine_unavailable"),
    (OverBudgetError, 507, SERVER, "insufficient_memory"),
    (DoesNotFitError, 507, SERVER, "insufficient_memory"),
    (EngineStartError, 502, SERVER, "model_load_failed"),
    (CatalogError, 502, SERVER, "model_load_failed"),
)


def from_pool_error(error: Exception) -> ApiError:
    """Admission failures as OpenAI errors; waiting helps where Retry-After is sent."""
    status, type_, code = next(
        ((s, t, c) for kind, s, t, c in _POOL_ANSWERS if isinstance(error, kind)),
        (502, SERVER, "model_load_failed"),
    )
    retry = error.retry_after_s if isinstance(error, PoolError) else None
    headers = {"Retry-After": str(retry)} if retry else {}
    param = "model" if status == 404 else None
    detail = getattr(error, "summary", None) or str(error)
    message = detail if status != 502 else f"Loading the model failed: {detail}"
    return ApiError(status, message, type_, param=param, code=code, headers=headers)
