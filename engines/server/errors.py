"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` for every failure.

Clients written against OpenAI (its Python/JS SDKs, IDEs, agents) read these fields, so
every 4xx/5xx the server sends has this shape, whether it comes from us or from an engine.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

INVALID_REQUEST = "invalid_request_error"
NOT_FOUND = "not_found_error"
AUTHENTICATION = "authentication_error"
SERVER = "server_error"
UNAVAILABLE = "service_unavailable_error"


class ApiError(Exception):
    """An error to send to the client as an OpenAI-shaped JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = INVALID_REQUEST,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)

    def sse_event(self) -> bytes:
        """The error as a server-sent event, for failures after a stream has begun."""
        return f"data: {json.dumps(self.body())}\n\n".encode()


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body",)]
    return ".".join(parts) or "body"


def from_validation_error(error: ValidationError | RequestValidationError) -> ApiError:
    """The first problem, naming the field, as a 400."""
    first = error.errors()[0]
    param = _location(tuple(first["loc"]))
    missing = first["type"] == "missing"
    message = (
        f"Missing required parameter: '{param}'."
        if missing
        else f"Invalid value for '{param}': {first['msg']}."
    )
    code = "missing_required_parameter" if missing else "invalid_value"
    return ApiError(400, message, INVALID_REQUEST, param=param, code=code)


def internal_error(error: Exception) -> ApiError:
    """A 500 naming only the exception's type (its text may hold internals)."""
    return ApiError(500, f"Internal error: {type(error).__name__}", SERVER)


def install_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error.response()

    async def validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return from_validation_error(error).response()

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        type_ = NOT_FOUND if error.status_code == 404 else INVALID_REQUEST
        message = str(error.detail)
        if error.status_code == 404:
            message = "Unknown path; the OpenAI API is under /v1 (see GET /v1/models)."
        return ApiError(
            error.status_code, message, type_, headers=dict(error.headers or {})
        ).response()

    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        return internal_error(error).response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
