"""A text that lays the screen out again only when it changes."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class ChangingText(Static):
    """A Static redrawn from every poll: `show` updates it only when the text differs
    (each update lays the screen out, which a once-a-second redraw would pay for nothing)."""

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self._text = text

    def show(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(text)
