"""The workbench's restart keeps a secret option it only ever shows masked: it asks the
server to restart the engine with the options the server holds (README "Control API")."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from app.tui import make_app
from app.tui.control import KeptAliveClient
from app.tui.messages import EngineLaunched
from profiles import Locations, Settings
from tests.integration.test_control_launches import (  # noqa: F401  (fixture)
    SECRET,
    engine_key,
    own_home,
    start_stub,
)
from tests.servers import ServerProcess, wait_pid_gone
from tests.tui.conftest import Messages, wait_until

NAME = "stub"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
async def test_the_workbench_restart_keeps_the_secret(own_home: Path) -> None:  # noqa: F811
    server = start_stub(own_home, NAME)
    try:
        before = server.engine(NAME)
        await restart_from_the_workbench(server)
        after = server.engine(NAME)
        assert after["state"] == "ready" and after["pid"] != before["pid"]
        assert wait_pid_gone(before["pid"])
        assert engine_key(after["pid"]) == SECRET, "the secret survived, not its mask"
    finally:
        server.terminate()


async def restart_from_the_workbench(server: ServerProcess) -> None:
    settings = Settings(server={"port": server.port})
    locations = Locations.from_env({"HOSTBENCH_HOME": str(server.home)})
    client = KeptAliveClient(settings, locations)
    app = make_app(settings, client, locations=locations, poll_interval_s=0.25, start_server=False)
    seen = Messages()
    try:
        async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
            await wait_until(pilot, lambda: app.connected, "the server")
            await pilot.press("4")
            table = app.screen.query_one("#engines-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, "the engine")
            shown = app.view.engine(NAME)
            assert shown is not None and shown.options["engine_api_key"] == "**********"
            await pilot.press("r")
            await wait_until(pilot, lambda: seen.of(EngineLaunched), "the restart", 120)
    finally:
        client.close()
