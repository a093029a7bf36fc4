"""6 Compare: cost and latency here against hosted APIs, as a table and a bar chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from app.tui.screens.base import WorkbenchScreen


class CompareScreen(WorkbenchScreen):
    MODE = "compare"

    def compose_body(self) -> ComposeResult:
        yield Static(
            "The comparison with hosted APIs needs the bench package's cost model "
            "(`hostbench compare`), which this build does not have yet.",
            classes="empty",
        )
