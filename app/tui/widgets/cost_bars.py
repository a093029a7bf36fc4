"""A horizontal bar chart of $ per 1M output tokens, one line per offer, this machine's
bars in their own colour; the layout comes from `comparing.bar_lines`."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from app.tui.comparing import Bar, bar_lines


class CostBars(Widget):
    DEFAULT_CSS = """
    CostBars { height: auto; padding: 0 1; }
    """

    bars: reactive[tuple[Bar, ...]] = reactive((), layout=True)
    """What to draw; set from the screen when a comparison is loaded."""

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.bars))

    def render(self) -> RenderResult:
        text = Text(no_wrap=True, overflow="crop")
        for index, line in enumerate(bar_lines(self.bars, self.content_size.width)):
            if index:
                text.append("\n")
            text.append(line.label + " ", style="bold" if line.here else "")
            text.append(line.bar, style="green" if line.here else "blue")
            text.append(" " + line.value, style="bold green" if line.here else "")
        return text
