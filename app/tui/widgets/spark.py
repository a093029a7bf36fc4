"""A sparkline on a fixed scale: 40 % CPU looks like 40 %, not like the top of the chart.

Textual's Sparkline scales between the smallest and largest value shown, which turns a
flat 0.5 % into full-height noise; a meter of utilisation or memory needs an absolute
ceiling. Any height: each row is one eighth-block band of the scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def resample(values: Sequence[float], width: int) -> list[float]:
    """The newest `width` values, right-aligned; older columns blank (None-free)."""
    tail = list(values)[-width:] if width > 0 else []
    return [0.0] * (width - len(tail)) + tail


def fit_width(values: Sequence[float], width: int) -> list[float]:
    """A fixed time span drawn over all `width` columns: each value widened to its share of
    the columns, or (more values than columns) each column the largest of its values."""
    count = len(values)
    if width <= 0 or count == 0:
        return [0.0] * max(width, 0)
    if count <= width:
        return [values[column * count // width] for column in range(width)]
    bounds = [column * count // width for column in range(width + 1)]
    return [max(values[bounds[c] : max(bounds[c + 1], bounds[c] + 1)]) for c in range(width)]


def columns(
    values: Sequence[float], width: int, height: int, ceiling: float, *, fill: bool = False
) -> list[str]:
    """Rows of block characters, top row first; `fill`: the values span the whole width
    (a fixed time span), else the newest are right-aligned (a scrolling history)."""
    scale = ceiling if ceiling > 0 else 1.0
    shown = fit_width(values, width) if fill else resample(values, width)
    eighths = [
        max(1 if v > 0 else 0, round(max(0.0, min(1.0, v / scale)) * height * 8)) for v in shown
    ]  # a value above zero never draws as nothing
    rows = []
    for row in range(height - 1, -1, -1):
        rows.append("".join(BLOCKS[max(0, min(8, e - row * 8))] for e in eighths))
    return rows


class Spark(Widget):
    """Recent values as bars; `ceiling` is the top of the scale (None: the largest value)."""

    DEFAULT_CSS = """
    Spark { height: 1; width: 1fr; color: $accent; background: $boost; }
    Spark.-warn { color: $warning; }
    Spark.-bad { color: $error; }
    """

    values: reactive[tuple[float, ...]] = reactive(())
    """Oldest first; the newest value is drawn at the right edge."""
    ceiling: reactive[float | None] = reactive(None)
    """The value drawn as a full column (100 for a percentage)."""

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(Spark.ceiling, ceiling)

    def render(self) -> RenderResult:
        width, height = self.content_size.width, max(1, self.content_size.height)
        ceiling = self.ceiling if self.ceiling is not None else max(self.values, default=0.0)
        return Content("\n".join(columns(self.values, width, height, ceiling)))
