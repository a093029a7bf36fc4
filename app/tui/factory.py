"""The one way to build the workbench (CONVENTIONS 7), for `hostbench` and for tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.tui.app import Dependencies, Workbench
from app.tui.link import ControlApi
from hardware import MachineSnapshot
from profiles import Locations, Settings


def make_app(
    settings: Settings,
    client: ControlApi | None = None,
    *,
    locations: Locations | None = None,
    clock: Callable[[], float] = time.time,
    start_server: bool = True,
    poll_interval_s: float = 1.0,
    machine: MachineSnapshot | None = None,
    live: bool = True,
) -> Workbench:
    """Build the workbench. Without `client`, it talks to the server the settings name;
    tests hand it a server of their own, or a replay of a recorded one with a fixed clock."""
    from engines.control_client import ControlClient

    locations = locations or Locations.from_env()
    client = client or ControlClient(settings, locations)
    deps = Dependencies(
        settings=settings,
        locations=locations,
        client=client,
        clock=clock,
        start_server=start_server,
        poll_interval_s=poll_interval_s,
        machine=machine,
        live=live,
    )
    return Workbench(deps)
