"""What every workbench screen shares: the tab bar, the footer, and following the server."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer
from textual.worker import Worker

from app.tui.link import ServerView
from app.tui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from app.tui.app import Workbench


class WorkbenchScreen(Screen[None]):
    """A screen that shows part of the server's state.

    Subclasses compose their body in `compose_body` and redraw in `show_view`, which only
    runs while the screen is shown: a hidden screen costs nothing at each poll, and catches
    up when it is shown again.
    """

    MODE: str = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "unfocus", "Leave field", show=False)
    ]

    @property
    def workbench(self) -> Workbench:
        """The app this screen belongs to, with the workbench's own attributes typed
        (Textual types `self.app` as any App). Screens are only ever mounted on it."""
        return cast("Workbench", self.app)

    def compose(self) -> ComposeResult:
        yield NavBar(id="navbar")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(NavBar).current = self.MODE
        self.watch(self.app, "view", self._view_changed, init=False)
        self.watch(self.app, "server_label", self._server_label_changed, init=True)
        self.watch(self.app, "connected", self._connected_changed, init=True)

    def on_screen_resume(self) -> None:
        view = getattr(self.app, "view", None)
        if view is not None:
            self.show_view(view)

    def _view_changed(self, view: ServerView | None) -> None:
        if view is not None and self.is_current:
            self.show_view(view)

    def _server_label_changed(self, label: str) -> None:
        self.query_one(NavBar).server = label

    def _connected_changed(self, connected: bool) -> None:
        self.query_one(NavBar).connected = connected

    def show_view(self, view: ServerView) -> None:
        """Redraw from a fresh poll (only while this screen is shown)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.workbench.report_worker(event)

    def action_unfocus(self) -> None:
        """Leave a text field for the screen's table, so arrow keys move in it at once."""
        tables = self.query(DataTable)
        self.set_focus(tables.first() if tables else None)
