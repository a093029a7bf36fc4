"""What the workbench knows about the server, fetched off the UI thread. No Textual here.

The workbench talks to the hostbench server only through its control API (the same calls
`hostbench ps`, `launch` and `stop` make), so a server started by the CLI, by `make run` or
by the workbench itself looks the same. `ControlApi` is what the app is handed: the real
`ControlClient`, or in snapshot tests a replay of readings recorded from a real server.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from control.api import EngineLog, EngineStatus, LaunchBody
    from hardware import MachineSnapshot
    from storage import RequestRecord

TELEMETRY_WINDOW = 300
"""Readings kept for sparklines: five minutes at the sampler's 1 Hz."""
REQUESTS_KEPT = 500


class ControlApi(Protocol):
    """The part of `control.client.ControlClient` the workbench uses."""

    base_url: str

    def probe(self) -> dict[str, Any] | None: ...
    def engines(self) -> list[EngineStatus]: ...
    def launch(self, body: LaunchBody, timeout_s: float = ...) -> EngineStatus: ...
    def stop(self, name: str) -> EngineStatus: ...
    def restart(self, name: str, timeout_s: float = ...) -> EngineStatus: ...
    def engine_log(self, name: str, lines: int = ...) -> EngineLog: ...
    def request(
        self, method: str, path: str, timeout_s: float | None = None, **kwargs: Any
    ) -> Any: ...


@dataclass(frozen=True)
class ServerView:
    """One poll of the server: what runs, the machine readings, recent requests."""

    url: str
    engines: tuple[EngineStatus, ...] = ()
    telemetry: tuple[MachineSnapshot, ...] = ()
    """Oldest first, up to TELEMETRY_WINDOW readings."""
    requests: tuple[RequestRecord, ...] = ()
    """Newest first (only where the server has no live metrics)."""
    polled_at: float = 0.0
    live: tuple[dict[str, Any], ...] = ()
    """The server's live metrics (`GET /api/metrics/live`: rolling 1 min and 15 min
    windows per model), one snapshot per poll, oldest first; empty where the server
    predates them."""

    @property
    def machine(self) -> MachineSnapshot | None:
        return self.telemetry[-1] if self.telemetry else None

    def engine(self, name: str) -> EngineStatus | None:
        return next((e for e in self.engines if e.name == name), None)


class Poller:
    """Polls the control API and keeps the telemetry window between polls.

    Telemetry is fetched incrementally (`/api/telemetry/history?since=`), so a poll moves
    a few hundred bytes, not the whole ring buffer.
    """

    def __init__(
        self,
        client: ControlApi,
        clock: Callable[[], float] = time.time,
        window: int = TELEMETRY_WINDOW,
    ) -> None:
        self.client = client
        self.clock = clock
        self._telemetry: deque[MachineSnapshot] = deque(maxlen=window)
        self._live: deque[dict[str, Any]] = deque(maxlen=window)
        self._live_served: bool | None = None

    def _since(self) -> float | None:
        return self._telemetry[-1].timestamp_s if self._telemetry else None

    def poll(self, with_records: bool = True) -> ServerView:
        """One poll; `with_records`: also the recent request records, which only the dashboard
        needs, and only where the server has no live metrics."""
        from hardware import snapshot_from_dict
        from storage import RequestRecord

        engines = tuple(self.client.engines())
        since = self._since()
        path = "/api/telemetry/history" + (f"?since={since!r}" if since is not None else "")
        fresh = [snapshot_from_dict(d) for d in self.client.request("GET", path)]
        self._telemetry.extend(s for s in fresh if since is None or s.timestamp_s > since)
        recent: tuple[RequestRecord, ...] = ()
        live = self._poll_live()  # always: the dashboard's sparklines are its history
        if with_records and not live:
            rows = self.client.request("GET", f"/api/requests?limit={REQUESTS_KEPT}")
            recent = tuple(RequestRecord.from_row(row) for row in rows)
        return ServerView(
            self.client.base_url,
            engines,
            tuple(self._telemetry),
            recent,
            self.clock(),
            tuple(self._live),
        )

    def _poll_live(self) -> bool:
        """Append the server's live metrics; False where it has none (a 404, once)."""
        from control.client import ControlError

        if self._live_served is False:
            return False
        try:
            self._live.append(self.client.request("GET", "/api/metrics/live"))
        except ControlError as error:
            if error.status != 404:
                raise
            self._live_served = False
            return False
        self._live_served = True
        return True

    def engine_log(self, name: str, lines: int = 200) -> list[str]:
        """The newest lines of an engine's log (`GET /api/engines/NAME/log`)."""
        return self.client.engine_log(name, lines).lines
