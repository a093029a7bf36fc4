"""A running job (pull or quantize): what it is, a progress bar, rate and ETA, Cancel."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Label, ProgressBar


class JobPanel(Widget):
    """Hidden until a job runs (class `-running`); Cancel posts `JobPanel.CancelPressed`."""

    DEFAULT_CSS = """
    JobPanel { height: auto; display: none; padding: 0 1; }
    JobPanel.-running { display: block; }
    JobPanel > Horizontal { height: 1; }
    JobPanel .job-title { width: 1fr; text-style: bold; }
    JobPanel ProgressBar { width: 1fr; }
    JobPanel .job-line { color: $text-muted; }
    """

    @dataclass
    class CancelPressed(Message):
        panel: JobPanel

        @property
        def control(self) -> JobPanel:
            return self.panel

    title: reactive[str] = reactive("")
    """What runs, e.g. `pulling qwen3-8b:Q4_K_M`."""
    line: reactive[str] = reactive("")
    """Done of total, rate and ETA."""
    running: reactive[bool] = reactive(False, toggle_class="-running")
    """Whether a job runs (the panel shows only then)."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.title, classes="job-title")
            yield Button("Cancel (c)", compact=True, variant="error", classes="job-cancel")
        yield ProgressBar(total=None, show_eta=False)
        yield Label(self.line, classes="job-line")

    def watch_title(self, title: str) -> None:
        if self.is_mounted:
            self.query_one(".job-title", Label).update(title)

    def watch_line(self, line: str) -> None:
        if self.is_mounted:
            self.query_one(".job-line", Label).update(line)

    def start(self, title: str) -> None:
        self.title, self.line, self.running = title, "starting…", True
        self.query_one(ProgressBar).update(total=None, progress=0)

    def advance(self, done: int, total: int, line: str) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)
        self.line = line

    def finish(self) -> None:
        self.running = False

    @on(Button.Pressed, ".job-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.CancelPressed(self))
