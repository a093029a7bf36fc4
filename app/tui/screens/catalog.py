"""2 Catalog: every catalog model with its size per quant and a colour verdict for this
machine; filter as you type; a detail pane with the memory breakdown, where the context
length can be changed and the estimate follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Static

from app.tui.fitting import (
    VERDICT_CLASS,
    VERDICT_STYLE,
    FitDetail,
    catalog_rows,
    filtered,
    fit_detail,
    registry_at,
)
from app.tui.present import NA, human_bytes
from app.tui.screens.base import WorkbenchScreen
from catalog import Catalog, load_catalog
from hardware import MachineSnapshot

COLUMNS = ("model", "best fit", "sizes", "params", "context")
DEFAULT_CTX = 4096


SHORT_VERDICT = {
    "full GPU": "GPU",
    "partial offload": "partial",
    "CPU only": "CPU",
    "does not fit": "no fit",
}


def verdict_text(text: str | None) -> Text:
    """`Q4_K_M GPU` with the verdict in its colour (the detail pane says it in full)."""
    if not text:
        return Text(NA, style="dim")
    quant, _, verdict = text.partition(": ")
    style = VERDICT_STYLE.get(VERDICT_CLASS.get(verdict, ""), "")
    return Text.assemble((f"{quant:<7} ", ""), (SHORT_VERDICT.get(verdict, verdict), style))


def compact_params(text: str | None) -> str:
    """`30.532B (3.353B active)` -> `30.5B/3.35B`."""
    if not text:
        return NA
    words = [w.strip("()") for w in text.split() if w.strip("()").endswith("B")]
    return "/".join(f"{float(w[:-1]):.3g}B" for w in words)


def compact_tokens(count: int | None) -> str:
    return NA if count is None else f"{count // 1024}k" if count >= 1024 else str(count)


def detail_text(detail: FitDetail) -> str:
    parts = detail.breakdown
    names = (("weights", "weights"), ("KV cache", "kv"), ("buffers", "compute"))
    lines = [f"[b]{detail.label}[/b]"]
    lines += [f"  {label:<9} {human_bytes(parts[f'{key}_bytes']):>10}" for label, key in names]
    rest = parts["output_bytes"] + parts["runtime_bytes"]
    lines.append(f"  {'runtime':<9} {human_bytes(rest):>10}")
    lines.append(f"  {'total':<9} {human_bytes(parts['total_bytes']):>10}")
    lines.append("")
    lines += [f"  {reason}" for reason in detail.reasons]
    largest = detail.largest_context
    lines.append(f"  largest context that fits: {largest if largest else 'none'}")
    if detail.note:
        lines.append(f"[dim]  {detail.note}[/dim]")
    return "\n".join(lines)


class CatalogScreen(WorkbenchScreen):
    MODE = "catalog"
    AUTO_FOCUS = "#catalog-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("c", "focus_context", "Context"),
        Binding("p", "pull", "Pull"),
        Binding("l", "launch", "Launch"),
    ]

    @dataclass
    class RowsComputed(Message):
        rows: list[dict[str, Any]]

    @dataclass
    class DetailComputed(Message):
        detail: FitDetail

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CatalogScreen.DetailComputed)

    filter_text: reactive[str] = reactive("", init=False)
    """What the user typed in the filter; the table shows matching entries."""
    selected: reactive[str | None] = reactive(None, init=False)
    """Catalog id shown in the detail pane."""
    n_ctx: reactive[int] = reactive(DEFAULT_CTX, init=False)
    """Context length the detail estimate is for."""

    def __init__(self) -> None:
        super().__init__()
        self.catalog: Catalog = load_catalog()
        self.rows: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Input(
            placeholder="filter: id, name, family, license (/ to focus)", id="filter", compact=True
        )
        with Horizontal(id="catalog-body"):
            yield DataTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="catalog-detail"):
                yield Label("Memory estimate", classes="pane-title")
                with Horizontal(classes="field-head"):
                    yield Label("context", classes="field-label")
                    yield Input(str(DEFAULT_CTX), id="ctx", type="integer", compact=True)
                with VerticalScroll():
                    yield Label("", id="verdict")
                    yield Static("select a model", id="detail")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#catalog-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.compute_rows()

    def machine(self) -> MachineSnapshot:
        return self.app.machine_reading()  # type: ignore[attr-defined, no-any-return]

    @work(thread=True, exclusive=True, exit_on_error=False, group="catalog")
    def compute_rows(self) -> None:
        registry = registry_at(self.app.deps.locations.store_path)  # type: ignore[attr-defined]
        rows = catalog_rows(self.catalog, registry, self.machine(), DEFAULT_CTX)
        self.post_message(self.RowsComputed(rows))

    @on(RowsComputed)
    def _rows(self, message: RowsComputed) -> None:
        self.rows = message.rows
        self.fill_table()

    def fill_table(self) -> None:
        table = self.query_one("#catalog-table", DataTable)
        table.clear()
        for row in filtered(self.rows, self.catalog, self.filter_text):
            table.add_row(
                row["id"],
                verdict_text(row["best"] or row["fit"]),
                row["size_range"],
                compact_params(row["params"]),
                compact_tokens(row["context"]),
                key=row["id"],
            )
        if self.selected is None and table.row_count:
            self.selected = str(table.coordinate_to_cell_key((0, 0)).row_key.value)

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    def watch_filter_text(self) -> None:
        self.fill_table()

    @on(Input.Changed, "#ctx")
    def _ctx(self, event: Input.Changed) -> None:
        if event.value.isdigit() and int(event.value) >= 256:
            self.n_ctx = int(event.value)

    @on(DataTable.RowHighlighted, "#catalog-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value

    def watch_selected(self) -> None:
        self.estimate()

    def watch_n_ctx(self) -> None:
        self.estimate()

    def estimate(self) -> None:
        if self.selected is not None:
            self.compute_detail(self.selected, self.n_ctx)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fit")
    def compute_detail(self, model: str, n_ctx: int) -> None:
        """`hostbench fit MODEL --ctx N`, off the UI thread (it may read a GGUF header)."""
        registry = registry_at(self.app.deps.locations.store_path)  # type: ignore[attr-defined]
        detail = fit_detail(model, self.catalog, registry, self.machine(), n_ctx)
        self.post_message(self.DetailComputed(detail))

    @on(DetailComputed)
    def _detail(self, message: DetailComputed) -> None:
        detail = message.detail
        row = next((r for r in self.rows if r["id"] == self.selected), {})
        sizes = f"[b]files[/b] {row.get('sizes', NA)}\n\n" if row else ""
        self.query_one("#detail", Static).update(sizes + detail_text(detail))
        verdict = self.query_one("#verdict", Label)
        verdict.update(f"{detail.verdict} at {detail.n_ctx} tokens")
        for name in VERDICT_CLASS.values():
            verdict.set_class(name == VERDICT_CLASS.get(detail.verdict), name)

    def action_focus_filter(self) -> None:
        self.query_one("#filter").focus()

    def action_focus_context(self) -> None:
        self.query_one("#ctx").focus()

    def _chosen(self) -> str | None:
        row = next((r for r in self.rows if r["id"] == self.selected), None)
        if row is None:
            return None
        return f"{row['id']}:{row['best_quant']}" if row.get("best_quant") else row["id"]

    async def action_pull(self) -> None:
        """Pull the selected model at its best quant for this machine (Models screen)."""
        model = self._chosen()
        if model:
            await self.app.switch_mode("models")
            self.app.screen.start_pull(model)  # type: ignore[attr-defined]

    async def action_launch(self) -> None:
        """Open the launch form on the Engines screen with this model filled in."""
        model = self._chosen()
        if model:
            await self.app.switch_mode("engines")
            self.app.screen.prefill(model)  # type: ignore[attr-defined]
