"""The control client over kept-alive HTTP connections.

`ControlClient` opens a new connection per call: fine for one CLI command, but
the workbench polls several endpoints every second, and a new client costs an SSL context
and a connection each time. Same calls, same errors, same checks of the server (the
private Unix socket, else the challenge before every request over TCP); only the
connections are kept, one client per way of reaching the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from control.client import ControlClient
from profiles import Locations, Settings


class KeptAliveClient(ControlClient):
    def __init__(self, settings: Settings, locations: Locations, timeout_s: float = 5.0) -> None:
        super().__init__(settings, locations, timeout_s)
        self._clients: dict[str, httpx.Client] = {}

    @contextlib.contextmanager
    def _session(self, uds: Path | None) -> Iterator[httpx.Client]:
        key = str(uds or "")
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._http(uds)
        yield client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
