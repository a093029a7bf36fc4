"""One labelled figure: its name, a fixed-scale sparkline of recent values, the reading."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label

from app.tui.widgets.spark import Spark


class Meter(Widget):
    """`label ▁▂▅▇ reading` on one line (taller where the layout gives it room)."""

    DEFAULT_CSS = """
    Meter { layout: horizontal; height: 1; }
    Meter > .meter-label { width: 8; color: $text-muted; }
    Meter > .meter-reading { width: 24; padding-left: 1; }
    """

    values: reactive[tuple[float, ...]] = reactive(())
    """Recent values, oldest first."""
    reading: reactive[str] = reactive("-")
    """The newest value as text, with its unit."""
    ceiling: reactive[float | None] = reactive(None)
    """Top of the sparkline's scale."""

    def __init__(self, label: str, ceiling: float | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.set_reactive(Meter.ceiling, ceiling)

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="meter-label")
        yield Spark(self.ceiling).data_bind(Meter.values, Meter.ceiling)
        yield Label(self.reading, classes="meter-reading")

    def watch_reading(self, reading: str) -> None:
        if self.is_mounted:
            self.query_one(".meter-reading", Label).update(reading)

    def show(self, values: tuple[float, ...], reading: str, ceiling: float | None = None) -> None:
        self.values = values
        self.reading = reading
        if ceiling is not None:
            self.ceiling = ceiling
