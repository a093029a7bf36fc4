"""The control-API token and the OpenAI API key check.

The token lives in the user's config dir with mode 0600: whoever can read it controls the
engines. The OpenAI API is open on loopback unless an API key is configured.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Request
from pydantic import SecretStr

from engines.server.errors import AUTHENTICATION, ApiError


def ensure_token(path: Path) -> str:
    """Read the token, creating it (0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_bearer(request: Request, expected: str, what: str) -> None:
    given = bearer(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        message = f"Missing or wrong {what}; send it as 'Authorization: Bearer <{what}>'."
        raise ApiError(401, message, AUTHENTICATION, code="invalid_api_key")


BearerCheck = Callable[[Request], Awaitable[None]]


def bearer_check(expected: str | None, what: str) -> BearerCheck:
    """A route dependency requiring `expected` as the bearer token (None: open).

    Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
    hop on every request that cost the streamed path's first token measurable time."""

    async def check(request: Request) -> None:
        if expected is not None:
            require_bearer(request, expected, what)

    return check


def api_key_check(api_key: SecretStr | None) -> BearerCheck:
    """The OpenAI API's check: the configured API key, or open where none is set."""
    return bearer_check(api_key.get_secret_value() if api_key else None, "API key")


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
