"""Following a running server's live metrics (for the dashboard's thread worker).

`live_snapshot` asks once; `follow_live_metrics` yields a snapshot per interval from the
server-sent-event stream until `stop` is set or the server goes away. Blocking on purpose:
a Textual `@work(thread=True)` worker iterates it and posts each snapshot as a message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from engines.control_client import ControlClient, ServerNotRunningError


def live_snapshot(client: ControlClient) -> dict[str, Any]:
    """{"at", "uptime_s", "models": {model: {"1m": {...}, "15m": {...}}}, "totals"}."""
    return dict(client.request("GET", "/api/metrics/live"))


def follow_live_metrics(
    client: ControlClient, interval_s: float = 1.0, stop: threading.Event | None = None
) -> Iterator[dict[str, Any]]:
    """Snapshots as the server sends them; ends when `stop` is set (checked per event)."""
    headers = client._headers()
    url = f"{client.base_url}/api/metrics/stream"
    timeout = httpx.Timeout(10.0, read=max(30.0, 5 * interval_s))
    try:
        with httpx.stream(
            "GET",
            url,
            params={"interval_s": interval_s},
            headers=headers,
            timeout=timeout,
            trust_env=False,
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if stop is not None and stop.is_set():
                    return
                if line.startswith("data:"):
                    yield json.loads(line[5:])
    except httpx.ConnectError:
        raise ServerNotRunningError(f"no hostbench server at {client.base_url}") from None
