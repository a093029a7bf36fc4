"""The control client over one kept-alive HTTP connection.

`ControlClient` opens a new connection per call: fine for one CLI command, but
the workbench polls several endpoints every second, and a new client costs an SSL context
and a TCP connection each time. Same calls, same errors; only the transport is kept.
"""

from __future__ import annotations

from typing import Any

import httpx

from engines.control_client import ControlClient
from profiles import Locations, Settings


class KeptAliveClient(ControlClient):
    def __init__(self, settings: Settings, locations: Locations, timeout_s: float = 5.0) -> None:
        super().__init__(settings, locations, timeout_s)
        self._http = httpx.Client(trust_env=False, timeout=timeout_s)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, url, **kwargs)

    def close(self) -> None:
        self._http.close()
