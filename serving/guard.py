"""The checks every request passes before any route, OpenAI or control API alike.

A web page the user visits can send requests to a server on loopback: a cross-site
`text/plain` POST needs no CORS preflight, and with DNS rebinding the page's own name
points at 127.0.0.1 so it can read the answers too. So only `Host` names of this server
are served (421 otherwise), a browser request from another origin is refused unless that
origin is allowed (`server.allowed_origins`; CORS is off by default), a body must be JSON
(415), no larger than `server.max_body_bytes` (413, counted as it arrives) and nested no
deeper than `server.max_json_depth` (400).

Header lookups only: this layer sits in front of the streamed path too (README.md,
"Security").
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from profiles import ServerSettings
from serving.auth import loopback_address
from serving.bodies import check_depth
from serving.errors import INVALID_REQUEST, ApiError, is_anthropic_path

_WANTED = frozenset((b"host", b"origin", b"content-type", b"content-length", b"transfer-encoding"))
_WITH_BODY = frozenset(("POST", "PUT", "PATCH"))
_LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))
_WILDCARDS = frozenset(("", "0.0.0.0", "::"))
PREFLIGHT_METHODS = b"GET, POST, DELETE, OPTIONS"


@dataclass(frozen=True)
class GuardPolicy:
    hosts: frozenset[str]
    """Names and addresses (lower case, no port) that name this server."""
    any_address: bool
    """Bound to every interface: any IP address names it (an address is no rebinding)."""
    origins: frozenset[str]
    any_origin: bool
    max_body_bytes: int
    max_json_depth: int

    @classmethod
    def from_settings(cls, server: ServerSettings) -> GuardPolicy:
        bound = server.host.lower()
        return cls(
            hosts=_LOOPBACK_NAMES | {bound} | set(server.allowed_hosts),
            any_address=bound in _WILDCARDS,
            origins=frozenset(o for o in server.allowed_origins if o != "*"),
            any_origin="*" in server.allowed_origins,
            max_body_bytes=server.max_body_bytes,
            max_json_depth=server.max_json_depth,
        )

    def names_this_server(self, name: str) -> bool:
        if name in self.hosts:
            return True
        literal = loopback_address(name)
        return literal is True or (literal is not None and self.any_address)

    def allows_origin(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins


def host_name(host: str) -> str:
    """The name in a Host header value: port, brackets and a final dot removed."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, sep, port = host.rpartition(":")
    if sep and ":" not in name and (port.isdigit() or not port):
        host = name
    return host.rstrip(".")


def _headers(scope: Scope) -> dict[bytes, str]:
    return {
        name: value.decode("latin-1").strip().lower()
        for name, value in scope["headers"]
        if name in _WANTED
    }


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestGuard:
    """The ASGI layer in front of the whole server (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, policy: GuardPolicy, parse_own_json: frozenset[str] = frozenset()
    ) -> None:
        """`parse_own_json`: paths whose app checks JSON depth as it parses (the gateway),
        so their bodies are not parsed twice; every other body's depth is checked here."""
        self.app = app
        self.policy = policy
        self.parse_own_json = parse_own_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            origin = self._check(scope, headers)
            if _has_body(headers):
                body = await self._buffered(headers, receive)
                if scope["path"] not in self.parse_own_json:
                    check_depth(body, self.policy.max_json_depth)
                receive = _Replay(body, receive)
        except ApiError as error:
            await self._refuse(error, scope, receive, send)
            return
        except _ClientGone:
            return
        if origin is not None:
            await self._cross_origin(origin, scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, headers: dict[bytes, str]) -> str | None:
        """Refuse what must not be served; the origin to answer with CORS, if any.

        A Unix domain socket (a server address without a port) is out of a browser's
        reach: only its body is checked."""
        server = scope.get("server")
        if server is None or server[1] is None:
            headers = {k: v for k, v in headers.items() if k not in (b"host", b"origin")}
        host = headers.get(b"host")
        if host is not None and not self.policy.names_this_server(host_name(host)):
            raise ApiError(
                421,
                f"The Host header '{host}' does not name this server; to reach it by that "
                "name add it to server.allowed_hosts (HOSTBENCH_SERVER__ALLOWED_HOSTS).",
                INVALID_REQUEST,
                code="host_not_allowed",
            )
        origin = headers.get(b"origin")
        if origin is not None:
            origin = self._foreign_origin(origin, host)
        if scope["method"] in _WITH_BODY and _has_body(headers):
            _check_json(headers.get(b"content-type"))
        return origin

    def _foreign_origin(self, origin: str, host: str | None) -> str | None:
        """None for the server's own origin; an allowed foreign one; else refused."""
        if host is not None and origin.partition("://")[2] == host:
            return None
        if self.policy.allows_origin(origin):
            return origin
        raise ApiError(
            403,
            f"Requests from web pages at '{origin}' are not allowed; to allow them add the "
            "origin to server.allowed_origins (HOSTBENCH_SERVER__ALLOWED_ORIGINS).",
            INVALID_REQUEST,
            code="origin_not_allowed",
        )

    async def _buffered(self, headers: dict[bytes, str], receive: Receive) -> bytes:
        """Read the whole body, refusing it as soon as it is too large."""
        limit = self.policy.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, close=True)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        await error.response(is_anthropic_path(scope["path"]))(scope, receive, send)

    async def _cross_origin(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        """An allowed foreign origin: answer its preflight, or add CORS headers."""
        allow = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and _is_preflight(scope):
            await _preflight(allow, scope, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *allow]}
            await send(message)

        await self.app(scope, receive, with_cors)


class _ClientGone(Exception):
    """The client left while sending its body: there is no one to answer."""


class _Replay:
    """`receive` for the app: the body read already, then the client's own messages."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.first: Message | None = {"type": "http.request", "body": body, "more_body": False}
        self.receive = receive

    async def __call__(self) -> Message:
        if self.first is not None:
            message, self.first = self.first, None
            return message
        return await self.receive()


def _has_body(headers: dict[bytes, str]) -> bool:
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length != "0")


def _check_json(content_type: str | None) -> None:
    if not _is_json(content_type):
        shown = f"'{content_type}'" if content_type else "none"
        raise ApiError(
            415,
            f"Request bodies must be JSON (Content-Type: application/json); got {shown}.",
            INVALID_REQUEST,
            code="unsupported_media_type",
        )


def _too_large(limit: int, close: bool = False) -> ApiError:
    """Refused from its Content-Length, the body is not received at all (the connection
    closes); refused while counting, the rest is discarded as it arrives, so the client
    reads the 413 instead of a reset connection."""
    return ApiError(
        413,
        f"The request body is larger than {limit} bytes (server.max_body_bytes).",
        INVALID_REQUEST,
        code="request_too_large",
        headers={"Connection": "close"} if close else None,
    )


def _is_preflight(scope: Scope) -> bool:
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


async def _preflight(allow: list[tuple[bytes, bytes]], scope: Scope, send: Send) -> None:
    asked = next((v for n, v in scope["headers"] if n == b"access-control-request-headers"), b"")
    headers = [
        *allow,
        (b"access-control-allow-methods", PREFLIGHT_METHODS),
        (b"access-control-allow-headers", asked or b"authorization, content-type"),
        (b"access-control-max-age", b"600"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
