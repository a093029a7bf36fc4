"""The workbench's requantize refusal names what the user has in front of them: the quantize
dialog's checkbox, not a CLI flag (README defects list, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from app.tui.screens.models import REQUANTIZE_LABEL, ModelsScreen, QuantizeDialog
from tests.tui.conftest import Messages, wait_until
from tests.tui.test_models_flow import home, model_file, offline_app  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


async def test_the_requantize_refusal_names_the_checkbox(home: Path) -> None:  # noqa: F811
    seen = Messages()
    app = offline_app(home)
    async with app.run_test(size=(120, 40), message_hook=seen.hook) as pilot:
        await pilot.press("3")
        table = app.screen.query_one("#models-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the local model")
        await pilot.press("z")
        assert isinstance(app.screen, QuantizeDialog)
        await pilot.click("#go")  # Q4_1 -> Q8_0 without ticking the box
        await wait_until(pilot, lambda: seen.of(ModelsScreen.JobEnded), "the refusal")
        await wait_until(pilot, lambda: app._notifications, "a notification")
        message = list(app._notifications)[-1].message
        assert REQUANTIZE_LABEL in message and "--allow-requantize" not in message


async def test_dashboard_sparklines_use_the_panel_width(tmp_path: Path, clean_env: Path) -> None:
    """Five minutes of a model's figures span the whole sparkline, not a strip of 30
    columns in the middle of it (the recorded server's requests)."""
    from app.tui.widgets.meter import LABEL_WIDTH, READING_WIDTH, Meter
    from tests.tui.test_snapshots import make_home, replay_app, settle

    app = replay_app(make_home(tmp_path / "home"), None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        meter = app.screen.query_one(".model-card #tps", Meter)
        width = meter.content_size.width - LABEL_WIDTH - READING_WIDTH - 1
        drawn = [str(line)[LABEL_WIDTH : LABEL_WIDTH + width] for line in meter.render().split()]
        used = [i for i in range(width) if any(row[i].strip() for row in drawn)]
        assert width > 60 and used, (width, drawn)
        assert used[-1] - used[0] > width // 2, f"drawn in columns {used[0]}..{used[-1]} of {width}"
