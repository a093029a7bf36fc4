"""One labelled figure: its name, a fixed-scale sparkline of recent values, the reading.

Drawn by one widget (not a label, a sparkline and a label): a meter changes every second,
and redrawing one region costs far less than laying out three widgets again.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from app.tui.widgets.spark import columns

LABEL_WIDTH = 8
READING_WIDTH = 24


class Meter(Widget):
    """`label ▁▂▅▇ reading`; on a taller meter the sparkline takes the extra rows."""

    DEFAULT_CSS = """
    Meter { height: 1; }
    Meter > .meter--label { color: $text-muted; }
    Meter > .meter--spark { color: $accent; background: $boost; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"meter--label", "meter--spark"}

    values: reactive[tuple[float, ...]] = reactive(())
    """Recent values, oldest first."""
    reading: reactive[str] = reactive("-")
    """The newest value as text, with its unit."""
    ceiling: reactive[float | None] = reactive(None)
    """Top of the sparkline's scale (None: the largest value shown)."""

    def __init__(
        self,
        label: str,
        ceiling: float | None = None,
        *,
        fill: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.fill = fill
        """The values are a fixed time span drawn across the whole sparkline (the
        Dashboard's five minutes), not a history scrolling in from the right."""
        self.set_reactive(Meter.ceiling, ceiling)

    def render(self) -> RenderResult:
        width, height = self.content_size.width, max(1, self.content_size.height)
        spark_width = max(0, width - LABEL_WIDTH - READING_WIDTH - 1)
        ceiling = self.ceiling if self.ceiling is not None else max(self.values, default=0.0)
        rows = columns(self.values, spark_width, height, ceiling, fill=self.fill)
        label_style = self.get_visual_style("meter--label")
        spark_style = self.get_visual_style("meter--spark")
        lines = []
        for index, row in enumerate(rows):
            label = self.label if index == 0 else ""
            reading = self.reading if index == 0 else ""
            lines.append(
                Content.assemble(
                    (f"{label:<{LABEL_WIDTH}.{LABEL_WIDTH}}", label_style),
                    (row, spark_style),
                    f" {reading:<{READING_WIDTH}.{READING_WIDTH}}",
                )
            )
        return Content("\n").join(lines)

    def show(self, values: tuple[float, ...], reading: str, ceiling: float | None = None) -> None:
        self.values = values
        self.reading = reading
        if ceiling is not None:
            self.ceiling = ceiling
