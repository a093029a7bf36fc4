"""The top bar: one clickable tab per screen with its number key, and the server's state."""

from __future__ import annotations

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("1", "machine", "Machine"),
    ("2", "catalog", "Catalog"),
    ("3", "models", "Models"),
    ("4", "engines", "Engines"),
    ("5", "dashboard", "Dashboard"),
    ("6", "compare", "Compare"),
    ("7", "chat", "Chat"),
)


class NavBar(Widget):
    """Tabs for the seven screens (mouse or number keys) and where the server is."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    """

    current: reactive[str] = reactive("machine")
    """The mode (screen) shown; its tab is highlighted."""
    server: reactive[str] = reactive("connecting...")
    """One word or URL saying which server the workbench talks to."""
    connected: reactive[bool] = reactive(False)
    """Whether the last poll reached the server."""

    def render(self) -> RenderResult:
        full = sum(len(label) + 4 for _, _, label in SCREENS) + 3
        short = self.size.width < full
        narrow = self.size.width < full + 30
        parts: list[Content | str] = []
        for key, mode, label in SCREENS:
            text = f" {key} {label[:4] if short and mode != self.current else label} "
            style = "reverse bold" if mode == self.current else "dim" if narrow else ""
            action = f"{style} @click=app.switch_mode('{mode}')".strip()
            markup = f"[{action}]{text}[/]"
            parts.append(Content.from_markup(markup))
        tabs = Content.assemble(*parts)
        dot = Content.styled("●", "green" if self.connected else "red")
        status = Content.assemble(dot, " ", self.server if not narrow else "")
        pad = max(1, self.size.width - tabs.cell_length - status.cell_length - 1)
        return Content.assemble(tabs, " " * pad, status)
