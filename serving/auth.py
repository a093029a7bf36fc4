"""The control-API token and the OpenAI API key check.

The token lives in the user's config dir with mode 0600: whoever can read it controls the
engines. The OpenAI API is open on loopback unless an API key is configured.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Request
from pydantic import SecretStr

from serving.errors import AUTHENTICATION, ApiError


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


def api_key_check(api_key: SecretStr | None) -> BearerCheck:
    """The API key check of the model APIs: the configured key as a bearer token, or as
    `x-api-key` (what Anthropic's SDKs and agents send); open where no key is set."""
    expected = api_key.get_secret_value() if api_key else None

    async def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key")
        if given is not None and bearer(request) is None:
            if hmac.compare_digest(given.strip().encode(), expected.encode()):
                return
            message = "Wrong API key in 'x-api-key'; send the key the server was given."
            raise ApiError(401, message, AUTHENTICATION, code="invalid_api_key")
        require_bearer(request, expected, "API key")

    return check


def loopback_address(text: str) -> bool | None:
    """Whether `text` is a loopback IP address (IPv4-mapped IPv6 included); None if it is
    not an IP address at all."""
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine: an address is parsed, a
    name is resolved and counts only if every address it resolves to is loopback."""
    literal = loopback_address(host)
    if literal is not None:
        return literal
    name = host.strip()
    if not name:
        return False  # "" binds every interface
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).partition("%")[0] for info in infos}
    return bool(addresses) and all(loopback_address(a) for a in addresses)
