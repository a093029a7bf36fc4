"""The Machine and Catalog screens on an Apple M-series Mac and on eight AMD MI300X, each
from a replayed real reading (tests/fixtures/apple/m2_pro_32gb_system_profiler.json,
tests/fixtures/amd/mi300x_x8_amd_smi_default.json; sources in the files).

As in test_snapshots.py's GPU screens, the recorded server (tests/fixtures/tui/server.json:
the project's 2-core test machine, its CPU, RAM and engines) is replayed with the GPUs of the
reading in every telemetry sample; only the GPUs and their backend come from the reading.
Pilot tests assert what the user reads; the SVG snapshots (looked at before accepting) keep
the whole picture. Update with `pytest tests/tui/test_accelerator_screens.py
--snapshot-update`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from app.tui import make_app
from app.tui.app import Workbench
from app.tui.screens.catalog import CatalogScreen
from app.tui.screens.machine import GpuCard, MachineScreen
from app.tui.widgets.meter import Meter
from hardware import MachineSnapshot, snapshot_from_dict, snapshot_to_dict
from profiles import Locations, Settings
from tests.tui.replay import RECORDING, ReplayClient
from tests.tui.test_snapshots import make_home, picture_text, settle
from tests.unit.hardware.test_amd_smi_default import mi300x_machine
from tests.unit.hardware.test_apple_metal import mac

SIZE = (120, 40)
SCREENS = {"machine": "1", "catalog": "2"}


def apple() -> MachineSnapshot:
    return mac("m2_pro_32gb_system_profiler", 28)


READINGS = {"apple-m2-pro": apple, "amd-mi300x-x8": mi300x_machine}


@pytest.fixture
def home(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home with one small registered model; dates in UTC wherever the tests run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield make_home(tmp_path / "home")
    monkeypatch.undo()
    time.tzset()


def with_reading(machine: MachineSnapshot) -> ReplayClient:
    """The recorded server, each telemetry sample with the reading's GPUs and backend."""
    recording = json.loads(RECORDING.read_text("utf-8"))
    samples = [
        snapshot_to_dict(
            dataclasses.replace(
                snapshot_from_dict(sample), gpus=machine.gpus, backends=machine.backends
            )
        )
        for sample in recording["telemetry"]
    ]
    return ReplayClient({**recording, "telemetry": samples})


def replay_app(home: Path, machine: MachineSnapshot) -> Workbench:
    client = with_reading(machine)
    return make_app(
        Settings(),
        client,
        locations=Locations.from_env({"HOSTBENCH_HOME": str(home)}),
        clock=lambda: client.polled_at,
        start_server=False,
        live=False,
        machine=client.machine,
    )


async def open_screen(pilot: Pilot[None], key: str) -> None:
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)


def meter_text(card: GpuCard, name: str) -> str:
    return str(card.query_one(f"#{name}", Meter).reading)


async def test_machine_screen_shows_the_mac_gpu_share(home: Path) -> None:
    """A unified-memory GPU's meter is out of Metal's budget (21.3 GiB of 32), not all RAM;
    macOS gives no telemetry without root, so the rest reads as not available."""
    app = replay_app(home, apple())
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, "1")
        assert isinstance(app.screen, MachineScreen)
        (card,) = app.screen.query(GpuCard)
        assert card.border_title == "GPU 0 · Apple M2 Pro"
        assert meter_text(card, "memory").endswith("/ 21.3 GiB")
        assert meter_text(card, "util") == meter_text(card, "power") == "-"


async def test_machine_screen_shows_eight_mi300x(home: Path) -> None:
    app = replay_app(home, mi300x_machine())
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, "1")
        assert isinstance(app.screen, MachineScreen)
        cards = list(app.screen.query(GpuCard))
        assert [c.border_title for c in cards] == [
            f"GPU {i} · AMD Instinct MI300X" for i in range(8)
        ]
        first = cards[0]
        assert meter_text(first, "memory") == "4.9 GiB / 192.0 GiB"
        assert meter_text(first, "power") == "734 W / 750 W"
        assert (meter_text(first, "util"), meter_text(first, "temp")) == ("98%", "60 °C")
        assert first.border_subtitle == "driver 6.12.12 · 5300 GB/s"
        summary = str(app.screen.query_one("#machine-summary", Label).render())
        assert "8 GPUs" in summary


@pytest.mark.parametrize(
    ("reading", "model", "best"),
    [
        ("apple-m2-pro", "qwen3-8b", "Q8_0: full GPU"),
        ("apple-m2-pro", "llama-3.3-70b-instruct", None),
        ("amd-mi300x-x8", "llama-3.3-70b-instruct", "Q4_K_M: full GPU"),
    ],
)
async def test_catalog_screen_fits_against_the_reading(
    home: Path, reading: str, model: str, best: str | None
) -> None:
    app = replay_app(home, READINGS[reading]())
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, "2")
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        assert screen.query_one("#catalog-table", DataTable).row_count > 20
        row = next(r for r in screen.rows if r["id"] == model)
        assert row["best"] == best, row


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("reading", list(READINGS))
def test_screen(snap_compare: Callable[..., bool], home: Path, reading: str, screen: str) -> None:
    shown: list[str] = []

    async def show(pilot: Pilot[None]) -> None:
        await open_screen(pilot, SCREENS[screen])
        shown.append(pilot.app.export_screenshot())

    app = replay_app(home, READINGS[reading]())
    assert snap_compare(app, terminal_size=SIZE, run_before=show), picture_text(shown)
