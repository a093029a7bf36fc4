"""Who may use the control API (`/api/*`), and the challenge that proves this server knows
the token before a client sends it (see control/channel.py and README "Control
API").

- Over the Unix socket, or TCP from a loopback peer: the token is required.
- TCP from another machine: refused with 403, unless `server.allow_remote_control` is set
  (the token then travels in clear text unless a TLS proxy carries it).
- The token file is re-read when it changes (`hostbench token rotate`): one stat per
  request, so the old token is refused from the next request on.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from control.channel import CHALLENGE_PATH, proof
from serving.auth import ensure_token, require_bearer
from serving.errors import AUTHENTICATION, ApiError

NONCE = re.compile(r"^[0-9a-f]{32,128}$")
REMOTE_SETTING = "server.allow_remote_control (HOSTBENCH_SERVER__ALLOW_REMOTE_CONTROL=true)"


@dataclass
class ControlToken:
    """The token in `path`, re-read whenever the file is replaced or rewritten."""

    path: Path
    _value: str = ""
    _seen: tuple[int, int, int] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> ControlToken:
        token = cls(path, ensure_token(path))
        token._seen = token._stamp()
        return token

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def current(self) -> str:
        """The token now; a missing or empty file keeps the last one (rotation replaces
        the file atomically, so that only happens when someone deletes it)."""
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            try:
                fresh = self.path.read_text().strip()
            except OSError:
                fresh = ""
            if fresh:
                self._value, self._seen = fresh, stamp
        return self._value


def via_unix_socket(request: Request) -> bool:
    """uvicorn reports a Unix socket's local address as (path, None)."""
    server = request.scope.get("server")
    return server is not None and server[1] is None


def peer_is_loopback(request: Request) -> bool:
    if via_unix_socket(request):
        return True
    client = request.scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]).split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_peer(request: Request, allow_remote: bool) -> None:
    if allow_remote or peer_is_loopback(request):
        return
    raise ApiError(
        403,
        "the control API is not served to other machines: the token would travel in clear "
        "text. Use it on this machine (hostbench CLI, workbench), or set "
        f"{REMOTE_SETTING} behind a TLS proxy.",
        AUTHENTICATION,
        code="remote_control_refused",
    )


def control_check(token: ControlToken, allow_remote: bool) -> Any:
    """The dependency of every `/api/*` route: peer policy first, then the token."""

    async def check(request: Request) -> None:
        check_peer(request, allow_remote)
        require_bearer(request, token.current(), "control token")

    return check


def challenge_router(token: ControlToken, allow_remote: bool) -> APIRouter:
    """`GET /api/challenge?nonce=HEX`: no token needed; the answer proves this server knows
    it. The port in the proof is the one this connection reached."""
    router = APIRouter()

    async def peer(request: Request) -> None:
        check_peer(request, allow_remote)

    @router.get(CHALLENGE_PATH, dependencies=[Depends(peer)])
    async def challenge(request: Request, nonce: str = Query(...)) -> dict[str, str]:
        if not NONCE.match(nonce):
            raise ApiError(400, "nonce must be 32 to 128 lowercase hex digits", param="nonce")
        server = request.scope.get("server")
        port = int(server[1]) if server and server[1] is not None else 0
        return {"proof": proof(token.current(), port, nonce)}

    return router
