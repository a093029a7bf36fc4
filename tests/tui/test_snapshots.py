"""SVG snapshots of every screen at 120x40 and 80x24, against a recorded server.

The recording is real (tests/fixtures/tui/server.json); GPU screens add a recorded real
NVML reading; the clock is the recording's, so uptimes and windows never move; the Compare
screen reads a recorded quick bench (tests/fixtures/tui/bench_runs.json) with dates shown in
UTC. Update with
`pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs before committing.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from app.tui import make_app
from app.tui.app import Workbench
from catalog import LocalModels, register_file
from profiles import Locations, Settings
from storage import Store
from tests.gguf_files import write_tiny_gguf
from tests.tui.replay import ReplayClient, replay_bench

SVG_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>')
"""One run of text in a Rich SVG picture: its position and its characters."""
GPUS = "two_gpus_h100_rtx4060ti"
SIZES = {"wide": (120, 40), "small": (80, 24)}
SCREENS = {
    "machine": ("1", GPUS),
    "machine-cpu": ("1", None),
    "catalog": ("2", GPUS),
    "models": ("3", None),
    "engines": ("4", None),
    "dashboard": ("5", None),
    "compare": ("6", None),
    "compare-empty": ("6", None),
    "chat": ("7", None),
}


STORED_SWEEP = {"compare"}
"""Screens shown with the recorded quick bench in the store."""
COSTED = {"compare", "compare-empty"}
"""Screens shown with `cost.power_w` set."""
POWER_W = 65.0
"""`cost.power_w` for the Compare screen: the recording's VM cannot read its power, and a
user who sets it sees electricity costs (a desktop CPU under load), before any bench too."""


@pytest.fixture
def snapshot_home(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with one small registered model, so the Models screen has a row; dates read
    in UTC wherever the tests run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return make_home(tmp_path / "home")


@pytest.fixture(autouse=True)
def _local_time_again() -> Iterator[None]:
    yield
    time.tzset()  # after monkeypatch restored TZ


def make_home(home: Path) -> Path:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)}).ensure()
    model = write_tiny_gguf(locations.models_dir / "tiny-llama.F16.gguf")
    register_file(model, LocalModels(Store(locations.store_path)))
    return home


def prepare(home: Path, screen: str) -> Settings:
    """The stored sweep and settings a screen's picture needs."""
    if screen in STORED_SWEEP:
        replay_bench(Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path))
    return Settings(cost={"power_w": POWER_W}) if screen in COSTED else Settings()


def replay_app(home: Path, gpus: str | None, settings: Settings | None = None) -> Workbench:
    client = ReplayClient.load(gpus)
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)})
    return make_app(
        settings or Settings(),
        client,
        locations=locations,
        clock=lambda: client.polled_at,
        start_server=False,
        live=False,
        machine=client.machine,
    )


SETTLE_ROUNDS = 50
"""At most this many rounds of waiting; a busy machine needs more than an idle one."""


async def settle(pilot: Pilot[None]) -> None:
    """Wait until the picture stops changing: every worker finished, every message landed
    (the replay polls once) and two pictures in a row the same, however slow the machine.
    A text cursor is drawn steadily, not blinking, so the picture does not depend on the
    moment."""
    previous = None
    for _ in range(SETTLE_ROUNDS):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()
        picture = pilot.app.export_screenshot()
        if picture == previous and not pilot.app.workers:
            return
        previous = picture


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, snapshot_home: Path, screen: str, size: str) -> None:  # type: ignore[no-untyped-def]
    key, gpus = SCREENS[screen]

    shown: list[str] = []

    async def show(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        shown.append(pilot.app.export_screenshot())

    app = replay_app(snapshot_home, gpus, prepare(snapshot_home, screen))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=show), picture_text(shown)


def picture_text(pictures: list[str]) -> str:
    """The text of the picture taken, line by line, so a CI log shows what differed even
    where the HTML report is not kept."""
    if not pictures:
        return "no picture was taken"
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in SVG_TEXT.findall(pictures[-1]):
        rows.setdefault(float(y), []).append((float(x), html.unescape(text)))
    return "the picture taken:\n" + "\n".join(
        "".join(text for _, text in sorted(row)) for _, row in sorted(rows.items())
    )
