"""Errors reach the user inside the workbench: a core error as a notification, anything
else as an error screen with the details; neither ends the app."""

from __future__ import annotations

from pathlib import Path

from app.tui import make_app
from app.tui.app import Workbench
from app.tui.screens.dialogs import ErrorScreen
from profiles import Locations, Settings
from tests.tui.conftest import wait_until
from tests.tui.replay import ReplayClient


def offline_app(home: Path) -> Workbench:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)}).ensure()
    client = ReplayClient.load()
    return make_app(Settings(), client, locations=locations, start_server=False, live=False)


async def test_a_core_error_is_a_notification(tmp_path: Path, clean_env: Path) -> None:
    app = offline_app(tmp_path / "home")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3", "p", *"no-such-model", "enter")
        await wait_until(pilot, lambda: app._notifications, "a notification")
        notification = list(app._notifications)[-1]
        assert "no-such-model" in notification.message
        assert notification.severity == "error"
        assert not isinstance(app.screen, ErrorScreen)


async def test_an_unexpected_error_opens_the_error_screen(tmp_path: Path, clean_env: Path) -> None:
    app = offline_app(tmp_path / "home")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await app.workers.wait_for_complete()
        await pilot.press("l")  # the recorded server refuses launches with a RuntimeError
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorScreen), "the error screen")
        assert "cannot launch" in app.screen.message  # type: ignore[attr-defined]
        assert "Traceback" in app.screen.details  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)
