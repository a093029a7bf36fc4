"""The one way to build the workbench (dependencies handed in, never global), for
`hostbench` and for tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.tui.app import Dependencies, Workbench
from app.tui.link import ControlApi

if TYPE_CHECKING:
    from hardware import MachineSnapshot
    from profiles import Locations, Settings


def make_app(
    settings: Settings | None = None,
    client: ControlApi | None = None,
    *,
    locations: Locations | None = None,
    clock: Callable[[], float] = time.time,
    start_server: bool = True,
    poll_interval_s: float = 1.0,
    machine: MachineSnapshot | None = None,
    live: bool = True,
) -> Workbench:
    """Build the workbench. Without `settings`/`client` it talks to the server the
    environment's settings name (read when first needed); tests hand it a server of their
    own, or a replay of a recorded one with a fixed clock and `live=False`."""
    deps = Dependencies(
        settings,
        locations,
        client,
        clock=clock,
        start_server=start_server,
        poll_interval_s=poll_interval_s,
        machine=machine,
        live=live,
    )
    return Workbench(deps)
