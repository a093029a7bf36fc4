"""6 Compare: cost and speed here against hosted APIs (`hostbench compare`) as a table, a
bar chart of $ per 1M output tokens and the sweep's throughput-latency curve; before any
bench, the hosted offers and what an hour here costs. `b` runs a quick bench of the served
model with a progress bar (`hostbench bench`), cancellable, and the comparison reloads when
it ends."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from app.tui.comparing import (
    COLUMNS,
    QUICK_DESCRIPTION,
    CompareData,
    Row,
    before_lines,
    bench_step,
    cost_bars,
    curve_lines,
    detail_lines,
    load_comparisons,
    quick_bench,
    table_rows,
    title_line,
)
from app.tui.link import ServerView
from app.tui.screens.base import WorkbenchScreen
from app.tui.widgets.column_widths import add_rows_fitted
from app.tui.widgets.cost_bars import CostBars
from app.tui.widgets.job import JobPanel
from bench.errors import BenchCancelled
from bench.session import SweepProgress
from control.api import EngineStatus
from storage import Store
from workflows.bench_context import find_engine
from workflows.curves import BeforeBench, before_bench


def row_texts(row: Row) -> list[Text]:
    """A comparison row's cells, green for this machine's own figures."""
    return [Text(cell, style="green" if row.here else "") for cell in row.cells]


def served_engine(view: ServerView | None) -> EngineStatus | None:
    """The engine a quick bench measures: the first one that answers."""
    return next((e for e in view.engines if e.state == "ready"), None) if view else None


def empty_text(served: str | None) -> str:
    if served is None:
        return (
            "No stored bench run on this machine yet, and no model is served: launch one on "
            "Engines (4), then press b here to run a quick bench "
            f"({QUICK_DESCRIPTION}); `hostbench bench MODEL` from a shell works too."
        )
    return (
        f"No stored bench run on this machine yet. Press b to run a quick bench of {served} "
        f"({QUICK_DESCRIPTION}); the comparison with hosted APIs appears when it ends."
    )


class CompareScreen(WorkbenchScreen):
    MODE = "compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "quick_bench", "Quick bench"),
        Binding("c", "cancel_bench", "Cancel bench"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    @dataclass
    class ComparisonLoaded(Message):
        """The newest stored sweep next to hosted prices; None: no stored run, and then
        `before` holds the hosted offers and this machine's hour."""

        data: CompareData | None
        before: BeforeBench | None = None

    @dataclass
    class BenchProgressed(Message):
        """Requests of the quick bench so far; only the newest matters."""

        progress: SweepProgress

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CompareScreen.BenchProgressed)

    @dataclass
    class BenchEnded(Message):
        """The quick bench ended: `outcome` is what to tell the user."""

        outcome: str
        ok: bool
        runs: tuple[int, ...] = ()
        """Ids of the runs it stored."""

    data: reactive[CompareData | None] = reactive(None, init=False, always_update=True)
    """What the table and the chart show."""
    served: reactive[str | None] = reactive(None, init=False)
    """Served name of the model a quick bench would measure."""

    def __init__(self) -> None:
        super().__init__()
        self._cancel_bench = threading.Event()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="compare-empty"):
            yield Static(empty_text(None), id="compare-hint", classes="empty")
            yield Static("", id="compare-offers", markup=False)
        with VerticalScroll(id="compare-body"):
            yield Label("", id="compare-title", classes="pane-title", markup=False)
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield Label("$ per 1M output tokens", id="chart-title", classes="pane-title")
            yield CostBars(id="compare-bars")
            yield Label("Throughput against latency", id="curve-title", classes="pane-title")
            yield Static("", id="compare-curve", markup=False)
            yield Static("", id="compare-details", markup=False)
        yield JobPanel(id="bench-job")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#compare-table", DataTable)
        for key, heading in COLUMNS:
            table.add_column(heading, key=key)
        self.query_one("#compare-body").display = False
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()  # a bench run from the CLI may have been stored meanwhile

    def show_view(self, view: ServerView) -> None:
        engine = served_engine(view)
        self.served = engine.name if engine else None

    def watch_served(self, served: str | None) -> None:
        self.query_one("#compare-hint", Static).update(empty_text(served))
        if self.data is None or self.data.model != served:
            self.load()

    # -- the comparison ------------------------------------------------------------------

    def load(self) -> None:
        self.load_comparison(self.served)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def load_comparison(self, preferred: str | None) -> None:
        """`hostbench compare` for the served model (else the newest run), every level."""
        app: Any = self.app
        locations = app.deps.locations
        locations.store_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot = app.machine_reading()
        store = Store(locations.store_path)
        data = load_comparisons(app.deps.settings, locations, store, preferred, snapshot)
        before = None if data else before_bench(app.deps.settings, locations, snapshot)
        self.post_message(self.ComparisonLoaded(data, before))

    @on(ComparisonLoaded)
    def _loaded(self, message: ComparisonLoaded) -> None:
        if message.before is not None:
            offers = "\n".join(before_lines(message.before))
            self.query_one("#compare-offers", Static).update(offers)
        self.data = message.data

    def watch_data(self, data: CompareData | None) -> None:
        self.query_one("#compare-empty").display = data is None
        self.query_one("#compare-body").display = data is not None
        if data is None:
            return
        self.query_one("#compare-title", Label).update(title_line(data))
        table = self.query_one("#compare-table", DataTable)
        table.clear()
        add_rows_fitted(table, [(row.key, row_texts(row)) for row in table_rows(data)])
        self.query_one(CostBars).bars = tuple(cost_bars(data))
        curve = curve_lines(data)
        self.query_one("#curve-title").display = bool(curve)
        self.query_one("#compare-curve", Static).update("\n".join(curve))
        self.query_one("#compare-details", Static).update("\n".join(detail_lines(data)))

    def action_reload(self) -> None:
        self.load()

    # -- the quick bench -----------------------------------------------------------------

    def action_quick_bench(self) -> None:
        panel = self.query_one("#bench-job", JobPanel)
        if panel.running:
            self.notify("A quick bench is running; cancel it first (c)", severity="warning")
            return
        if self.served is None:
            self.notify("No model is served: launch one on Engines (4) first", severity="warning")
            return
        self._cancel_bench.clear()
        panel.start(f"quick bench of {self.served}: warming up")
        self.run_quick_bench(self.served)

    @work(thread=True, exclusive=True, exit_on_error=False, group="quick-bench")
    def run_quick_bench(self, name: str) -> None:
        """The served engine's status, then `quick_bench` with progress and a cancel event."""
        app: Any = self.app
        try:
            status = find_engine(app.client.engines(), name)
            if status is None:
                self.post_message(self.BenchEnded(f"{name} is no longer served", ok=False))
                return
            runs = quick_bench(
                app.deps.settings,
                app.deps.locations,
                status,
                f"{app.client.base_url}/v1",
                progress=lambda progress: self.post_message(self.BenchProgressed(progress)),
                cancel=self._cancel_bench,
            )
        except BenchCancelled:
            outcome = "quick bench cancelled (levels already measured are stored)"
            self.post_message(self.BenchEnded(outcome, ok=False))
            return
        except BaseException:
            self.post_message(self.BenchEnded("", ok=False))
            raise
        ids = tuple(run.id for run in runs if run.id is not None)
        outcome = f"quick bench of {name} stored as runs {', '.join(map(str, ids))}"
        self.post_message(self.BenchEnded(outcome, ok=True, runs=ids))

    @on(BenchProgressed)
    def _bench_progressed(self, message: BenchProgressed) -> None:
        step = bench_step(message.progress)
        panel = self.query_one("#bench-job", JobPanel)
        panel.title = f"quick bench of {self.served or 'the served model'}"
        panel.advance(step.done, step.total, step.line)

    @on(BenchEnded)
    def _bench_ended(self, message: BenchEnded) -> None:
        self.query_one("#bench-job", JobPanel).finish()
        if message.outcome:
            self.notify(message.outcome, severity="information" if message.ok else "warning")
        self.load()

    @on(JobPanel.CancelPressed, "#bench-job")
    def action_cancel_bench(self) -> None:
        panel = self.query_one("#bench-job", JobPanel)
        if panel.running and not self._cancel_bench.is_set():
            self._cancel_bench.set()
            panel.line = "cancelling… (once the requests in flight are abandoned)"
