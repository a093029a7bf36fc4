"""The README's workbench key table, walked screen by screen at 80x24 and 120x40: every key
it lists is bound on its screen (so the footer shows it) and does what the table says.

The server is the recorded one the snapshots use, which here also takes launches and stops
(it records them and answers with the recorded engine's status): what a key asks of the
server is what is checked, not whether an engine starts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from app.tui import make_app
from app.tui.app import Workbench
from app.tui.screens.dialogs import ConfirmScreen, QuitScreen
from app.tui.screens.models import QuantizeDialog
from catalog import LocalModel, LocalModels
from control.api import EngineStatus, LaunchBody
from profiles import Locations, Settings
from storage import Store
from tests.gguf_files import write_tiny_gguf
from tests.tui.conftest import wait_until
from tests.tui.replay import ReplayClient

README = Path(__file__).resolve().parents[2] / "README.md"
SIZES = [(80, 24), (120, 40)]
KEY = re.compile(r"^(ctrl\+[a-z]|[^\s])$")


def key_table() -> dict[str, tuple[str, list[str]]]:
    """{number key: (screen name, keys its row lists)} from the README's table."""
    rows = {}
    for line in README.read_text().splitlines():
        found = re.match(r"^\| `(\d)` \| (\w+) \| (.*) \|$", line)
        if found:
            ticked = re.findall(r"`([^`]+)`", found.group(3))
            rows[found.group(1)] = (found.group(2), [k for k in ticked if KEY.match(k)])
    return rows


class TakingClient(ReplayClient):
    """The recorded server, taking launches and stops (recorded, answered from the
    recording)."""

    def __init__(self, recording: dict[str, Any]) -> None:
        super().__init__(recording)
        self.launched: list[LaunchBody] = []
        self.stopped: list[str] = []
        self.restarted: list[str] = []

    def launch(self, body: LaunchBody, timeout_s: float = 0) -> EngineStatus:
        self.launched.append(body)
        status = self.engines()[0]
        return status.model_copy(update={"name": body.name or status.name, "model": body.model})

    def stop(self, name: str) -> EngineStatus:
        self.stopped.append(name)
        return self.engines()[0]

    def restart(self, name: str, timeout_s: float = 0) -> EngineStatus:
        self.restarted.append(name)
        return self.engines()[0]


@pytest.fixture
def home(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with one local model (a tiny GGUF), and no Hugging Face in reach."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    root = tmp_path / "home"
    locations = Locations.from_env({"HOSTBENCH_HOME": str(root)}).ensure()
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    LocalModels(Store(locations.store_path)).register(
        LocalModel(
            id="tiny", path=path, sha256="0" * 64, size_bytes=path.stat().st_size,
            origin=f"file:{path}", quant="F32",
        )
    )  # fmt: skip
    return root


def workbench(home: Path) -> tuple[Workbench, TakingClient]:
    client = TakingClient(ReplayClient.load().recording)
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)})
    app = make_app(Settings(), client, locations=locations, start_server=False, live=False)
    return app, client


Check = Callable[[Pilot[None], Workbench, TakingClient], Awaitable[None]]


async def table_ready(pilot: Pilot[None], app: Workbench, table_id: str) -> None:
    table = app.screen.query_one(table_id, DataTable)
    await wait_until(pilot, lambda: table.row_count > 0, f"rows in {table_id}")
    table.focus()
    await pilot.pause()


def focused_id(app: Workbench) -> str | None:
    return app.focused.id if app.focused is not None else None


async def catalog_filter(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("slash")
    assert focused_id(app) == "filter"
    await pilot.press(*"smollm2-135", "escape")
    assert focused_id(app) == "catalog-table", "esc leaves the filter for the table"
    table = app.screen.query_one("#catalog-table", DataTable)
    await wait_until(pilot, lambda: table.row_count == 1, "the filter")


async def catalog_context(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("c")
    assert focused_id(app) == "ctx"
    await pilot.press("escape")
    assert focused_id(app) == "catalog-table"


async def catalog_hub_search(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("slash", *"smollm2", "escape", "h")

    def said(text: str) -> bool:
        return any(text in str(n.message) for n in app._notifications)

    await wait_until(pilot, lambda: said("cannot reach Hugging Face"), "the Hub search's error")
    assert said("no cached results"), "no Hub here and nothing cached: it says both"


async def catalog_pull(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await table_ready(pilot, app, "#catalog-table")
    await pilot.press("p")
    await wait_until(pilot, lambda: app.current_mode == "models", "the Models screen")
    panel = app.screen.query_one("#pull-job")
    await wait_until(pilot, lambda: "pulling" in panel.title or app._notifications, "a pull")


async def catalog_launch(pilot: Pilot[None], app: Workbench, client: TakingClient) -> None:
    await table_ready(pilot, app, "#catalog-table")
    chosen = app.screen.selected  # type: ignore[attr-defined]
    await pilot.press("l")
    await wait_until(pilot, lambda: client.launched, "a launch request")
    assert app.current_mode == "engines" and client.launched[-1].model.startswith(chosen)
    assert not isinstance(app.focused, Input), "the focus is never left in a text field"
    field = app.screen.query_one("#field-model", Input)
    typed = field.value
    await pilot.press("l")
    await wait_until(pilot, lambda: len(client.launched) == 2, "the second launch")
    assert field.value == typed, "`l` launches again, never types into the model name"


async def models_pull(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("p")
    assert focused_id(app) == "pull-input"
    await pilot.press("escape")


async def models_quantize(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await table_ready(pilot, app, "#models-table")
    await pilot.press("z")
    assert isinstance(app.screen, QuantizeDialog)
    await pilot.press("escape")
    assert not isinstance(app.screen, QuantizeDialog)


async def models_cancel(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("c")
    assert app.screen._cancel_pull.is_set() and app.screen._cancel_quantize.is_set()  # type: ignore[attr-defined]


async def models_delete(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await table_ready(pilot, app, "#models-table")
    await pilot.press("d")
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("escape")


async def models_refresh(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    table = app.screen.query_one("#models-table", DataTable)
    await wait_until(pilot, lambda: table.row_count > 0, "the models")
    table.clear()
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: table.row_count > 0, "the models listed again")


async def engines_launch(pilot: Pilot[None], app: Workbench, client: TakingClient) -> None:
    await pilot.press("l")
    await wait_until(pilot, lambda: client.launched, "a launch request")
    assert client.launched[-1].model, "the form's model"


async def engines_stop(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await table_ready(pilot, app, "#engines-table")
    await pilot.press("s")
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press("escape")


async def engines_restart(pilot: Pilot[None], app: Workbench, client: TakingClient) -> None:
    await table_ready(pilot, app, "#engines-table")
    await pilot.press("r")
    await wait_until(pilot, lambda: client.restarted, "the restart")
    assert client.restarted == [client.recording["engines"][0]["name"]]


async def engines_form(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("f")
    assert focused_id(app) == "field-model"
    await pilot.press("escape")
    assert not isinstance(app.focused, Input)


async def compare_bench(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("b")
    panel = app.screen.query_one("#bench-job")
    await wait_until(pilot, lambda: panel.running or app._notifications, "a quick bench")


async def compare_cancel(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("b")
    panel = app.screen.query_one("#bench-job")
    await wait_until(pilot, lambda: panel.running or app._notifications, "a quick bench")
    await pilot.press("c")
    await wait_until(pilot, lambda: not panel.running, "the bench to stop")


async def compare_reload(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    seen = len(app.screen.query("#compare-local DataTable, DataTable"))
    await pilot.press("ctrl+r")
    await app.workers.wait_for_complete()
    assert len(app.screen.query("DataTable")) == seen


async def chat_new(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("ctrl+n")
    assert focused_id(app) == "prompt" and not app.screen.history  # type: ignore[attr-defined]


async def chat_stop(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    await pilot.press("escape", "ctrl+t")
    assert app.screen._cancel.is_set()  # type: ignore[attr-defined]


async def chat_settings(pilot: Pilot[None], app: Workbench, _c: TakingClient) -> None:
    settings = app.screen.query_one("#chat-settings")
    shown = settings.has_class("-hidden")
    await pilot.press("escape", "ctrl+o")
    assert settings.has_class("-hidden") != shown


CHECKS: dict[tuple[str, str], Check] = {
    ("Catalog", "/"): catalog_filter,
    ("Catalog", "c"): catalog_context,
    ("Catalog", "h"): catalog_hub_search,
    ("Catalog", "p"): catalog_pull,
    ("Catalog", "l"): catalog_launch,
    ("Models", "p"): models_pull,
    ("Models", "z"): models_quantize,
    ("Models", "c"): models_cancel,
    ("Models", "d"): models_delete,
    ("Models", "ctrl+r"): models_refresh,
    ("Engines", "l"): engines_launch,
    ("Engines", "s"): engines_stop,
    ("Engines", "r"): engines_restart,
    ("Engines", "f"): engines_form,
    ("Compare", "b"): compare_bench,
    ("Compare", "c"): compare_cancel,
    ("Compare", "ctrl+r"): compare_reload,
    ("Chat", "ctrl+n"): chat_new,
    ("Chat", "ctrl+t"): chat_stop,
    ("Chat", "ctrl+o"): chat_settings,
}
KEY_NAMES = {"/": "slash"}


def listed_keys() -> list[tuple[str, str, str]]:
    return [(number, screen, key) for number, (screen, keys) in key_table().items() for key in keys]


def test_every_key_the_readme_lists_has_a_check() -> None:
    table = key_table()
    assert [screen for screen, _ in table.values()] == [
        "Machine", "Catalog", "Models", "Engines", "Dashboard", "Compare", "Chat",
    ]  # fmt: skip
    assert {(screen, key) for _, screen, key in listed_keys()} == set(CHECKS)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_number_keys_switch_screens(home: Path, size: tuple[int, int]) -> None:
    app, _ = workbench(home)
    async with app.run_test(size=size) as pilot:
        for number, (screen, _keys) in key_table().items():
            await pilot.press(number)
            assert app.current_mode == screen.lower(), (number, screen)
        await pilot.press("2", "slash")
        assert isinstance(app.focused, Input)
        await pilot.press("escape", "3")
        assert app.current_mode == "models", "`esc` first, then a number switches"
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: "CommandPalette" in type(app.screen).__name__, "palette")
        await pilot.press("escape")
        await pilot.press("q")  # models run on the recorded server: it asks first
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question")
        await pilot.press("k")
        await wait_until(pilot, lambda: not app.is_running, "q to quit")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(("number", "screen", "key"), listed_keys())
async def test_each_listed_key_does_what_the_table_says(
    home: Path, size: tuple[int, int], number: str, screen: str, key: str
) -> None:
    app, client = workbench(home)
    async with app.run_test(size=size) as pilot:
        await pilot.press(number)
        shown = app.screen
        bound = {b.key for b in shown.BINDINGS if hasattr(b, "key")}  # type: ignore[union-attr]
        name = KEY_NAMES.get(key, key)
        assert any(name in keys.split(",") for keys in bound), f"{screen} binds {key}"
        await CHECKS[(screen, key)](pilot, app, client)
