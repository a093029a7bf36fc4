"""The OpenAPI schema at /openapi.json, the forwarded endpoints included.

The forwarded endpoints (chat, completions, embeddings, Anthropic messages, responses,
rerank, tokenize; serving/endpoints.py) are served by OpenAIForwarding, outside
FastAPI's routing (serving/openai_routes.py), so FastAPI does not know them. Their
request bodies are described here from the same pydantic models the gateway validates
with, so clients and fuzzers see what the server really takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

if TYPE_CHECKING:
    from serving.endpoints import Endpoint

REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
ANTHROPIC_ERROR_SCHEMA: dict[str, Any] = {
    "title": "AnthropicErrorResponse",
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "code": {"type": "string"},
            },
        },
    },
}
ERROR_STATUSES = {
    "400": "Invalid request: `param` names the field",
    "401": "Missing or wrong API key",
    "404": "Unknown model",
    "413": "Body larger than server.max_body_bytes",
    "415": "Body not JSON",
    "429": "The model's queue is full; see Retry-After",
    "502": "The engine failed",
    "503": "The model is not ready; see Retry-After",
}
UNSUPPORTED = "the engine serving `model` does not answer this API (unsupported_by_engine)"


def _error_response(description: str, shape: str = "ErrorResponse") -> dict[str, Any]:
    schema = {"$ref": REF.format(model=shape)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    body = endpoint.schema.model_json_schema(ref_template=REF)
    components.update(body.pop("$defs", {}))
    components[endpoint.schema.__name__] = body
    answer: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if endpoint.streams:
        answer["text/event-stream"] = {"schema": {"type": "string"}}
    ref = {"$ref": REF.format(model=endpoint.schema.__name__)}
    statuses = dict(ERROR_STATUSES)
    shape = "AnthropicErrorResponse" if endpoint.anthropic else "ErrorResponse"
    if endpoint.native_only:
        statuses["400"] += f"; or {UNSUPPORTED}"
    return {
        "tags": [endpoint.api],
        "summary": f"{endpoint.api} {endpoint.name}, forwarded to the engine serving `model`",
        "operationId": endpoint.name.replace(".", "_"),
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
        "responses": {
            "200": {"description": "The engine's answer", "content": answer},
            **{status: _error_response(text, shape) for status, text in statuses.items()},
        },
    }


def _errors_are_400(schema: dict[str, Any]) -> None:
    """FastAPI documents a 422 for invalid parameters; this server answers 400 with the
    OpenAI error shape (serving/errors.py)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = _error_response("Invalid request: `param` names the field")
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)


def install_openapi(app: FastAPI, forwarded: Mapping[str, Endpoint]) -> None:
    """Make `app.openapi()` (served at /openapi.json) describe `forwarded` too."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _errors_are_400(schema)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ErrorResponse"] = ERROR_SCHEMA
            components["AnthropicErrorResponse"] = ANTHROPIC_ERROR_SCHEMA
            for path, endpoint in forwarded.items():
                schema["paths"][path] = {"post": _operation(endpoint, components)}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
