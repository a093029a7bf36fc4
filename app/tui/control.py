"""The control client over one kept-alive HTTP connection.

`ControlClient.request` opens a new httpx client per call: fine for one CLI command, but
the workbench polls several endpoints every second, and a new client costs an SSL context
and a TCP connection each time. Same calls, same errors; only the transport is kept.
"""

from __future__ import annotations

from typing import Any

import httpx

from engines.control_client import ControlClient, ControlError, ServerNotRunningError
from profiles import Locations, Settings


class KeptAliveClient(ControlClient):
    def __init__(self, settings: Settings, locations: Locations, timeout_s: float = 5.0) -> None:
        super().__init__(settings, locations, timeout_s)
        self._http = httpx.Client(trust_env=False, timeout=timeout_s)

    def request(self, method: str, path: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        try:
            response = self._http.request(
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

    def close(self) -> None:
        self._http.close()
