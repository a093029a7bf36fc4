"""Modal dialogs: confirm a destructive action, ask on quit, show an unexpected error."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for an action that loses something (delete a model, stop an engine)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitScreen(ModalScreen[str]):
    """On quit with models running: keep them serving, stop them, or stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "choose('keep')", "Keep running"),
        Binding("s", "choose('stop')", "Stop models"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, running: list[str], started_here: bool) -> None:
        super().__init__(classes="dialog")
        self.running = running
        self.started_here = started_here

    def compose(self) -> ComposeResult:
        names = ", ".join(self.running)
        after = (
            "the background server this workbench started keeps serving them"
            if self.started_here
            else "the hostbench server keeps serving them"
        )
        with Vertical(classes="dialog-box"):
            yield Label("Keep the running models?", classes="dialog-title")
            yield Static(
                f"Running: {names}.\nKeep: {after} after you quit (`hostbench shutdown` stops it).",
                classes="dialog-detail",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep running (k)", id="keep", variant="primary")
                yield Button("Stop models (s)", id="stop", variant="error")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class ErrorScreen(ModalScreen[None]):
    """An error nothing else explained, shown inside the workbench instead of a traceback."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Dismiss"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, title: str, message: str, details: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.details = details

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-detail", markup=False)
            if self.details:
                with VerticalScroll(classes="error-details"):
                    yield Static(self.details, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Dismiss (esc)", id="dismiss", variant="primary")

    def on_button_pressed(self) -> None:
        self.dismiss()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss()
