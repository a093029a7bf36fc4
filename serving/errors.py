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

from errors import HostbenchError, OpenAIType

INVALID_REQUEST = OpenAIType.INVALID_REQUEST
NOT_FOUND = OpenAIType.NOT_FOUND
AUTHENTICATION = OpenAIType.AUTHENTICATION
SERVER = OpenAIType.SERVER
UNAVAILABLE = OpenAIType.UNAVAILABLE


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

    def response(self, anthropic: bool = False) -> JSONResponse:
        body = self.anthropic_body() if anthropic else self.body()
        return JSONResponse(body, status_code=self.status, headers=self.headers)

    def sse_event(self) -> bytes:
        """The error as a server-sent event, for failures after a stream has begun."""
        return f"data: {json.dumps(self.body())}\n\n".encode()

    def anthropic_body(self) -> dict[str, Any]:
        """The shape Anthropic's API and SDKs use; the OpenAI code, where there is one,
        travels along as an extra field."""
        type_ = ANTHROPIC_TYPES.get(self.status, "api_error" if self.status >= 500 else None)
        error = {"type": type_ or "invalid_request_error", "message": self.message}
        return {"type": "error", "error": error | ({"code": self.code} if self.code else {})}

    def anthropic_sse_event(self) -> bytes:
        return f"event: error\ndata: {json.dumps(self.anthropic_body())}\n\n".encode()


ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}
"""Anthropic's error types by status (its API reference, "Errors"); other 4xx are
invalid_request_error, other 5xx api_error."""


def is_anthropic_path(path: str) -> bool:
    """Routes answered in Anthropic's dialect, errors included."""
    return path.startswith("/v1/messages")


_UNION_MEMBERS = frozenset(("str", "int", "float", "bool", "none"))


def _location(loc: tuple[Any, ...]) -> str:
    """The field's dotted path; pydantic's union member tags (`str`, `list[...]`) dropped."""
    parts = [
        str(part)
        for part in loc
        if part != "body"
        and not (isinstance(part, str) and (part in _UNION_MEMBERS or "[" in part))
    ]
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
    wrong_type = str(first["type"]).endswith("_type")
    code = (
        "missing_required_parameter"
        if missing
        else "invalid_type"
        if wrong_type
        else "invalid_value"
    )
    return ApiError(400, message, INVALID_REQUEST, param=param, code=code)


def api_error_from(
    error: Exception,
    message: str | None = None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> ApiError:
    """The one place core errors become HTTP answers: the status, OpenAI type and code each
    error class declares (errors/); the caller may word the message and add what the route
    knows (`param`, `headers`)."""
    if isinstance(error, ValidationError):
        return from_validation_error(error)
    if not isinstance(error, HostbenchError):
        return internal_error(error)
    code = error.api_code or type(error).__name__
    text = str(error) if message is None else message
    return ApiError(
        error.http_status, text, error.openai_type, param=param, code=code, headers=headers
    )


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
