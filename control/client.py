"""Talking to a running hostbench server's control API (used by the CLI and the TUI).

The token is sent only to a server that has proven itself (control/channel.py):
over the Unix socket in the user's private directory where there is one, else over TCP
after the server answered a challenge with a proof only the token's holder can compute.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from control.api import EngineLog, EngineStatus, LaunchBody, PoolStatus
from control.channel import (
    CHALLENGE_PATH,
    ControlChannelError,
    new_nonce,
    proof_matches,
    trusted_socket,
)
from control.requests import absolute_model
from engines.errors import EngineError
from errors import ExitCode, UnavailableError
from profiles import Locations, Settings

SERVICE_NAME = "hostbench"
SOCKET_URL = "http://localhost"
"""Base URL of requests over the Unix socket (the host names this machine)."""


class ServerNotRunningError(EngineError, UnavailableError):
    """No hostbench server answers at the configured address."""


_EXIT_BY_HTTP_STATUS = {
    400: ExitCode.USAGE,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.UNAVAILABLE,
    502: ExitCode.LAUNCH_FAILED,
    507: ExitCode.NO_SPACE,
}
"""The server's answer read back as the error it was (errors/, `http_status`)."""


class ControlError(EngineError):
    """The server refused or failed a control request; the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exit_code = _EXIT_BY_HTTP_STATUS.get(status, ExitCode.ERROR)


class ControlReplyError(ControlError):
    """The server answered with a reply of a shape this hostbench does not know."""

    def __init__(self, message: str) -> None:
        super().__init__(200, message)
        self.exit_code = ExitCode.UNAVAILABLE


Reply = TypeVar("Reply")
_ENGINE_LIST = TypeAdapter(list[EngineStatus])


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host


def is_local(host: str) -> bool:
    """The server's address is on this machine (so its Unix socket is ours to look for)."""
    if host in ("", "0.0.0.0", "::", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def engine_path(name: str, suffix: str = "") -> str:
    """`/api/engines/NAME...` with NAME percent-encoded (a name may hold `/ ? #` or spaces)."""
    return f"/api/engines/{quote(name, safe='')}{suffix}"


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


class ControlClient:
    def __init__(self, settings: Settings, locations: Locations, timeout_s: float = 5.0) -> None:
        host = _client_host(settings.server.host)
        self.port = settings.server.port
        self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self.local = is_local(settings.server.host)
        self.locations = locations
        self.timeout_s = timeout_s

    def socket(self) -> Path | None:
        """The server's Unix socket, where it is in this user's private directory."""
        return trusted_socket(self.locations.data_dir, self.port) if self.local else None

    def _http(self, uds: Path | None) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(uds)) if uds is not None else None
        return httpx.Client(transport=transport, trust_env=False, timeout=self.timeout_s)

    @contextlib.contextmanager
    def _session(self, uds: Path | None) -> Iterator[httpx.Client]:
        """A client for one call (a CLI command makes one or two); kept alive in the TUI."""
        with self._http(uds) as client:
            yield client

    def probe(self) -> dict[str, Any] | None:
        """The server's /health if a hostbench server answers there, else None."""
        uds = self.socket()
        for target in (uds, None) if uds is not None else (None,):
            try:
                with self._session(target) as http:
                    body = http.get(self._url(target, "/health"), timeout=1.0).json()
            except (httpx.HTTPError, ValueError):
                continue
            if isinstance(body, dict) and body.get("service") == SERVICE_NAME:
                return body
        return None

    def _url(self, uds: Path | None, path: str) -> str:
        return (SOCKET_URL if uds is not None else self.base_url) + path

    def _token(self) -> str:
        try:
            token = self.locations.token_file.read_text().strip()
        except OSError:
            token = ""
        if not token:
            raise ServerNotRunningError(
                f"no control token at {self.locations.token_file}; is the server running "
                "under this HOSTBENCH_HOME?"
            )
        return token

    def request(self, method: str, path: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        response = self._exchange(method, path, timeout_s or self.timeout_s, kwargs)
        if response.status_code >= 400:
            raise ControlError(response.status_code, _error_message(response))
        return response.json()

    def _exchange(
        self, method: str, path: str, timeout_s: float, kwargs: dict[str, Any]
    ) -> httpx.Response:
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"}
        uds = self.socket()
        if uds is not None:
            try:
                with self._session(uds) as http:
                    url = self._url(uds, path)
                    return http.request(method, url, headers=headers, timeout=timeout_s, **kwargs)
            except httpx.ConnectError:
                pass  # a socket left behind by a server that is gone: try the port
        try:
            with self._session(None) as http:
                self._verify(http, token)
                url = self._url(None, path)
                return http.request(method, url, headers=headers, timeout=timeout_s, **kwargs)
        except httpx.ConnectError:
            raise ServerNotRunningError(f"no hostbench server at {self.base_url}") from None

    @contextlib.contextmanager
    def stream(self, path: str, timeout: httpx.Timeout, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed GET over the same channel as `request`: the socket, else the port
        once the server proved it knows the token."""
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"}
        uds = self.socket()
        for target in (uds, None) if uds is not None else (None,):
            with self._http(target) as http:
                try:
                    if target is None:
                        self._verify(http, token)
                    request = http.build_request(
                        "GET", self._url(target, path), headers=headers, timeout=timeout, **kwargs
                    )
                    response = http.send(request, stream=True)
                except httpx.ConnectError:
                    continue  # a socket left behind by a server that is gone: try the port
                try:
                    yield response
                finally:
                    response.close()
                return
        raise ServerNotRunningError(f"no hostbench server at {self.base_url}")

    def _verify(self, http: httpx.Client, token: str) -> None:
        """Refuse to send `token` to a server that cannot prove it knows it."""
        nonce = new_nonce()
        url = self._url(None, CHALLENGE_PATH)
        response = http.get(url, params={"nonce": nonce}, timeout=min(5.0, self.timeout_s))
        if response.status_code == 403:
            raise ControlError(403, _error_message(response))
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = body.get("proof") if isinstance(body, dict) else None
        if not proof_matches(token, self.port, nonce, answer):
            raise ControlChannelError(
                f"the server at {self.base_url} did not prove it knows the control token, so "
                f"the token was not sent (HTTP {response.status_code}): is another program "
                f"listening on port {self.port}?"
            )

    def reply(self, read: Callable[[Any], Reply], method: str, path: str, **kwargs: Any) -> Reply:
        """`request`, with the reply read by `read` (a model of control/api.py); a reply of
        another shape is a ControlReplyError that names the server and what did not match."""
        body = self.request(method, path, **kwargs)
        try:
            return read(body)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the reply"
            raise ControlReplyError(
                f"the server at {self.base_url} answered {method} {path} with a reply this "
                f"hostbench does not understand ({where}: {problem['msg'].lower()}); is it "
                "another program, or a hostbench of another version?",
            ) from None

    def engines(self) -> list[EngineStatus]:
        return self.reply(_ENGINE_LIST.validate_python, "GET", "/api/engines")

    def pool(self) -> PoolStatus:
        return self.reply(PoolStatus.model_validate, "GET", "/api/pool")

    def launch(self, order: LaunchBody, timeout_s: float = 900.0) -> EngineStatus:
        """Launch on the server; a model path is made absolute here, in the caller's working
        directory (the server refuses relative ones)."""
        body = order.model_copy(update={"model": absolute_model(order.model)})
        # unset fields left out: a server older than a field (idle_ttl_s) refuses it, even null
        payload = body.model_dump(mode="json", exclude_none=True)
        return self.reply(
            EngineStatus.model_validate, "POST", "/api/engines", timeout_s=timeout_s, json=payload
        )

    def stop(self, name: str) -> EngineStatus:
        return self.reply(EngineStatus.model_validate, "DELETE", engine_path(name), timeout_s=30.0)

    def restart(self, name: str, timeout_s: float = 900.0) -> EngineStatus:
        """Restart with the options the engine runs with, secrets included (kept server-side)."""
        path = engine_path(name, "/restart")
        return self.reply(EngineStatus.model_validate, "POST", path, timeout_s=timeout_s, json={})

    def engine_log(self, name: str, lines: int = 50) -> EngineLog:
        path = engine_path(name, "/log")
        return self.reply(EngineLog.model_validate, "GET", path, params={"lines": lines})
