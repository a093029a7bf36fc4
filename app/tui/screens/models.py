"""3 Models: the local models (and GGUF files found in the Hugging Face cache); pull and
quantize jobs with real progress (bytes, rate, ETA; tensors for quantize), cancellable;
delete with confirmation. Each action is the core call its CLI command makes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from app.display.model_rows import cached_row, model_row
from app.tui.fitting import registry_at
from app.tui.jobs import JobClock
from app.tui.screens.base import WorkbenchScreen
from app.tui.screens.dialogs import ConfirmScreen
from app.tui.widgets.column_widths import add_rows_fitted
from app.tui.widgets.job import JobPanel
from catalog import CancelledError, load_catalog, resolve_model

REQUANTIZE_LABEL = "allow requantizing a quantized file"
REQUANTIZE_CONSENT = f"tick “{REQUANTIZE_LABEL}” in the quantize dialog (z)"
COLUMNS = ("id", "catalog", "quant", "size", "sha256", "origin", "file")


def short_origin(origin: str) -> str:
    """`file:/a/long/path.gguf` says no more than the file column: `your file`."""
    return "your file" if origin.startswith("file:") else origin


def list_models(store_path: Any) -> list[dict[str, Any]]:
    """`hostbench models`: registered models, then HF-cache files not registered."""
    from catalog.hf_cache import cached_ggufs

    models = registry_at(store_path).all()
    known = {m.path.absolute() for m in models}
    rows = [model_row(m) for m in models]
    for row, model in zip(rows, models, strict=True):
        row["file"] += "" if model.present else " (missing)"
        row["origin"] = short_origin(row["origin"])
    return rows + [cached_row(c) for c in cached_ggufs() if c.path.absolute() not in known]


def model_detail(row: dict[str, Any], data_dir: Path) -> str:
    """Where the selected model lives and where it came from."""
    path = Path(row["path"])
    shown = f"<data dir>/{path.relative_to(data_dir)}" if path.is_relative_to(data_dir) else path
    lines = [f"{row['id']}  ·  {row['size']}  ·  {row['origin']}", f"file   {shown}"]
    if row.get("repo"):
        lines.append(f"repo   {row['repo']}")
    if not row.get("registered"):
        lines.append(
            "found in the Hugging Face cache: launch it by path (l), or pull its catalog id"
        )
    return "\n".join(lines)


class QuantizeDialog(ModalScreen[tuple[str, bool] | None]):
    """Target type for `hostbench quantize MODEL --to TYPE`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, source: str, source_quant: str | None) -> None:
        super().__init__(classes="dialog")
        self.source = source
        self.source_quant = source_quant

    def compose(self) -> ComposeResult:
        from catalog.quant_types import COMMON_TARGETS, quant_type

        def option(name: str) -> tuple[str, str]:
            kind = quant_type(name)
            return f"{name:<7} {kind.bits_per_weight:5.2f} bpw  {kind.quality}", name

        options = [option(name) for name in COMMON_TARGETS]
        with Vertical(classes="dialog-box"):
            yield Label(f"Quantize {self.source}", classes="dialog-title")
            yield Select(options, value="Q8_0", allow_blank=False, id="target")
            yield Checkbox(REQUANTIZE_LABEL, id="requantize", compact=True)
            yield Static(
                f"The source is {self.source_quant or 'of unknown type'}: requantizing an "
                "already quantized file keeps its loss and adds the new one.",
                classes="field-why",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quantize", id="go", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "go":
            self.dismiss(None)
            return
        target = self.query_one("#target", Select).value
        self.dismiss((str(target), self.query_one("#requantize", Checkbox).value))

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(None)


class ModelsScreen(WorkbenchScreen):
    MODE = "models"
    AUTO_FOCUS = "#models-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "focus_pull", "Pull"),
        Binding("z", "quantize", "Quantize"),
        Binding("d", "delete", "Delete"),
        Binding("l", "launch", "Launch"),
        Binding("c", "cancel_jobs", "Cancel jobs"),
        Binding("ctrl+r", "refresh", "Refresh"),
    ]

    @dataclass
    class ModelsListed(Message):
        rows: list[dict[str, Any]]

    @dataclass
    class PullProgressed(Message):
        """Bytes of a pull so far; only the newest matters."""

        model: str
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ModelsScreen.PullProgressed)

    @dataclass
    class PullRetrying(Message):
        """The transfer failed and resumes after `wait_s` (the core's backoff)."""

        why: str
        wait_s: float

    @dataclass
    class QuantizeProgressed(Message):
        """Tensors written so far; only the newest matters."""

        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ModelsScreen.QuantizeProgressed)

    @dataclass
    class JobEnded(Message):
        """A pull or quantize ended: `outcome` is what to tell the user."""

        kind: str
        outcome: str
        ok: bool

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self._cancel_pull = threading.Event()
        self._cancel_quantize = threading.Event()
        self._clocks: dict[str, JobClock] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pull-bar"):
            yield Label("pull", classes="field-label")
            yield Input(
                placeholder="catalog id[:QUANT], e.g. qwen3-0.6b:Q8_0 (enter)",
                id="pull-input",
                compact=True,
            )
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="model-detail", markup=False)
        yield JobPanel(id="pull-job")
        yield JobPanel(id="quantize-job")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#models-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.refresh_models()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.refresh_models()

    # -- the list ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def refresh_models(self) -> None:
        rows = list_models(self.workbench.deps.locations.store_path)
        self.post_message(self.ModelsListed(rows))

    @on(ModelsListed)
    def _listed(self, message: ModelsListed) -> None:
        self.rows = message.rows
        table = self.query_one("#models-table", DataTable)
        table.clear()
        add_rows_fitted(
            table, [(row["path"], [row.get(c) or "-" for c in COLUMNS]) for row in message.rows]
        )

    def _selected_row(self) -> dict[str, Any] | None:
        table = self.query_one("#models-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return next((r for r in self.rows if r["path"] == key), None)

    def action_refresh(self) -> None:
        self.refresh_models()

    @on(DataTable.RowHighlighted, "#models-table")
    def _highlighted(self) -> None:
        row = self._selected_row()
        data_dir = self.workbench.deps.locations.data_dir
        self.query_one("#model-detail", Static).update(model_detail(row, data_dir) if row else "")

    async def action_launch(self) -> None:
        """Launch this model through the form (a file in the HF cache goes by path)."""
        row = self._selected_row()
        if row is None:
            return
        await self.workbench.open_launch(row["id"] if row.get("registered") else row["path"])

    # -- pull ----------------------------------------------------------------------------

    def action_focus_pull(self) -> None:
        self.query_one("#pull-input", Input).focus()

    @on(Input.Submitted, "#pull-input")
    def _pull_entered(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.start_pull(event.value.strip())
            event.input.value = ""

    def start_pull(self, model: str) -> None:
        panel = self.query_one("#pull-job", JobPanel)
        if panel.running:
            self.notify("A pull is running; cancel it first (c)", severity="warning")
            return
        self._cancel_pull.clear()
        self._clocks["pull"] = JobClock("bytes")
        panel.start(f"pulling {model}")
        self.pull(model)

    @work(thread=True, exclusive=True, exit_on_error=False, group="pulls")
    def pull(self, model: str) -> None:
        """`hostbench pull MODEL`: resolve_model with progress and a cancel event."""
        locations = self.workbench.deps.locations
        try:
            local = resolve_model(
                model,
                load_catalog(),
                registry_at(locations.store_path),
                locations.models_dir,
                progress=lambda done, total: self.post_message(
                    self.PullProgressed(model, done, total)
                ),
                cancel=self._cancel_pull,
                on_retry=lambda why, wait_s: self.post_message(self.PullRetrying(why, wait_s)),
            )
        except CancelledError:
            self.post_message(self.JobEnded("pull", f"pull of {model} cancelled", ok=False))
            return
        except BaseException:
            self.post_message(self.JobEnded("pull", "", ok=False))
            raise
        self.post_message(self.JobEnded("pull", f"{local.id} is here: {local.path.name}", ok=True))

    @on(PullProgressed)
    def _pull_progressed(self, message: PullProgressed) -> None:
        line = self._clocks["pull"].line(message.done, message.total)
        self.query_one("#pull-job", JobPanel).advance(message.done, message.total, line)

    @on(PullRetrying)
    def _pull_retrying(self, message: PullRetrying) -> None:
        panel = self.query_one("#pull-job", JobPanel)
        panel.line = f"{message.why}; resuming in {message.wait_s:.0f} s"

    # -- quantize ------------------------------------------------------------------------

    def action_quantize(self) -> None:
        row = self._selected_row()
        if row is None or not row.get("registered"):
            self.notify("Select a registered model to quantize", severity="warning")
            return
        if self.query_one("#quantize-job", JobPanel).running:
            self.notify("A quantize job is running; cancel it first (c)", severity="warning")
            return

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer is not None:
                self.start_quantize(row["id"], *answer)

        self.app.push_screen(QuantizeDialog(row["id"], row.get("quant")), chosen)

    def start_quantize(self, source: str, target: str, allow_requantize: bool) -> None:
        self._cancel_quantize.clear()
        self._clocks["quantize"] = JobClock("tensors")
        self.query_one("#quantize-job", JobPanel).start(f"quantizing {source} to {target}")
        self.quantize(source, target, allow_requantize)

    @work(thread=True, exclusive=True, exit_on_error=False, group="quantize")
    def quantize(self, source: str, target: str, allow_requantize: bool) -> None:
        """`hostbench quantize SOURCE --to TARGET`, per-tensor progress, cancellable."""
        from catalog.quantize import QuantizeRequest, RequantizeRefusedError, quantize

        locations = self.workbench.deps.locations
        registry = registry_at(locations.store_path)
        model = registry.get(source)
        if model is None:
            raise ValueError(f"{source} is not a registered model")
        request = QuantizeRequest(model, target, allow_requantize)
        try:
            outcome = quantize(
                request,
                registry,
                locations.models_dir,
                progress=lambda done, total: self.post_message(
                    self.QuantizeProgressed(done, total)
                ),
                cancel=self._cancel_quantize,
            )
        except CancelledError:
            self.post_message(self.JobEnded("quantize", "quantize cancelled", ok=False))
            return
        except RequantizeRefusedError as refused:
            self.post_message(self.JobEnded("quantize", "", ok=False))
            raise RequantizeRefusedError(refused.warning, REQUANTIZE_CONSENT) from None
        except BaseException:
            self.post_message(self.JobEnded("quantize", "", ok=False))
            raise
        said = outcome.sample.strip()[:60]
        text = f"{outcome.model.id}: {outcome.seconds:.1f} s; it answered {said!r}"
        self.post_message(self.JobEnded("quantize", text, ok=True))

    @on(QuantizeProgressed)
    def _quantize_progressed(self, message: QuantizeProgressed) -> None:
        line = self._clocks["quantize"].line(message.done, message.total)
        self.query_one("#quantize-job", JobPanel).advance(message.done, message.total, line)

    @on(JobEnded)
    def _job_ended(self, message: JobEnded) -> None:
        if message.kind in ("pull", "quantize"):
            self.query_one(f"#{message.kind}-job", JobPanel).finish()
        if message.outcome:
            self.notify(message.outcome, severity="information" if message.ok else "warning")
        self.refresh_models()

    def action_cancel_jobs(self) -> None:
        self._cancel_pull.set()
        self._cancel_quantize.set()

    @on(JobPanel.CancelPressed, "#pull-job")
    def _cancel_pull_pressed(self) -> None:
        self._cancel_pull.set()

    @on(JobPanel.CancelPressed, "#quantize-job")
    def _cancel_quantize_pressed(self) -> None:
        self._cancel_quantize.set()

    # -- delete --------------------------------------------------------------------------

    def action_delete(self) -> None:
        row = self._selected_row()
        if row is None or not row.get("registered"):
            self.notify("Select a registered model to delete", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete(row["id"])

        detail = (
            f"{row['file']} ({row['size']}). Files hostbench downloaded are deleted; files in "
            "the Hugging Face cache or that you registered by path are kept (hostbench rm)."
        )
        self.app.push_screen(ConfirmScreen(f"Delete {row['id']}?", detail, "Delete"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def delete(self, model_id: str) -> None:
        """`hostbench rm MODEL`."""
        from catalog.remove import remove_model

        locations = self.workbench.deps.locations
        removal = remove_model(model_id, registry_at(locations.store_path), locations.models_dir)
        kept = f"; file kept: {removal.kept_because}" if removal.kept_because else ""
        self.post_message(self.JobEnded("delete", f"{model_id} removed{kept}", ok=True))
