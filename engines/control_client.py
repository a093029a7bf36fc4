"""Talking to a running hostbench server's control API (used by the CLI and the TUI)."""

from __future__ import annotations

from typing import Any

import httpx

from engines.errors import EngineError
from profiles import Locations, Settings

SERVICE_NAME = "hostbench"


class ServerNotRunningError(EngineError):
    """No hostbench server answers at the configured address."""


class ControlError(EngineError):
    """The server refused or failed a control request; the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host


class ControlClient:
    def __init__(self, settings: Settings, locations: Locations, timeout_s: float = 5.0) -> None:
        host = _client_host(settings.server.host)
        host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{host}:{settings.server.port}"
        self.locations = locations
        self.timeout_s = timeout_s

    def probe(self) -> dict[str, Any] | None:
        """The server's /health if a hostbench server answers there, else None."""
        try:
            response = httpx.get(f"{self.base_url}/health", timeout=1.0, trust_env=False)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) and body.get("service") == SERVICE_NAME else None

    def _headers(self) -> dict[str, str]:
        try:
            token = self.locations.token_file.read_text().strip()
        except OSError:
            raise ServerNotRunningError(
                f"no control token at {self.locations.token_file}; is the server running "
                "under this HOSTBENCH_HOME?"
            ) from None
        return {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        try:
            response = self._send(
                method,
                f"{self.base_url}{path}",
                headers=self._headers(),
                timeout=timeout_s or self.timeout_s,
                **kwargs,
            )
        except httpx.ConnectError:
            raise ServerNotRunningError(f"no hostbench server at {self.base_url}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise ControlError(response.status_code, message)
        return response.json()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request on a fresh connection (a CLI command makes one or two)."""
        return httpx.request(method, url, trust_env=False, **kwargs)

    def engines(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/engines"))

    def launch(self, body: dict[str, Any], timeout_s: float = 900.0) -> dict[str, Any]:
        return dict(self.request("POST", "/api/engines", timeout_s=timeout_s, json=body))

    def stop(self, name: str) -> dict[str, Any]:
        return dict(self.request("DELETE", f"/api/engines/{name}", timeout_s=30.0))
