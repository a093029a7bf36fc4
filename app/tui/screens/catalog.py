"""2 Catalog: every catalog model with its size per quant and a colour verdict for this
machine; filter as you type; a detail pane with the memory breakdown, where the context
length can be changed and the estimate follows. `h` searches the whole Hugging Face Hub for
the filter's words (`hostbench search`): each GGUF file with its verdict from its remote
header; `p` pulls the selected one. Typing in the filter returns to the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Static

from app.display.hub_rows import cached_line, hub_detail, hub_rows
from app.tui.fitting import (
    VERDICT_CLASS,
    VERDICT_STYLE,
    FitDetail,
    catalog_rows,
    filtered,
    fit_detail,
    hub_search,
    registry_at,
)
from app.tui.present import NA, human_bytes
from app.tui.screens.base import WorkbenchScreen
from app.tui.widgets.column_widths import add_rows_fitted
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


def catalog_cells(row: dict[str, Any]) -> tuple[str, Text, str, str, str]:
    """One catalog row as the table shows it (COLUMNS)."""
    return (
        row["id"],
        verdict_text(row["best"] or row["fit"]),
        row["size_range"],
        compact_params(row["params"]),
        compact_tokens(row["context"]),
    )


def hub_cells(row: dict[str, Any]) -> tuple[str, Text, str, str, str]:
    """One Hub search result as the table shows it; its name is also its key."""
    fit = f"{row['quant'] or NA}: {row['fit']}" if row["fit"] else None
    return (f"{row['repo']}/{row['file']}", verdict_text(fit), row["size"] or NA, NA, NA)


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
        Binding("h", "search_hub", "Hub search"),
        Binding("p", "pull", "Pull"),
        Binding("l", "launch", "Launch"),
    ]

    @dataclass
    class RowsComputed(Message):
        rows: list[dict[str, Any]]

    @dataclass
    class HubSearched(Message):
        """The Hub's answer to the filter's words (maybe from the cache: `note` says)."""

        rows: list[dict[str, Any]]
        note: str | None

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
    hub_rows: reactive[list[dict[str, Any]] | None] = reactive(None, init=False)
    """The Hub search's rows while the table shows them; None: the catalog."""

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
        return self.workbench.machine_reading()

    @work(thread=True, exclusive=True, exit_on_error=False, group="catalog")
    def compute_rows(self) -> None:
        registry = registry_at(self.workbench.deps.locations.store_path)
        rows = catalog_rows(self.catalog, registry, self.machine(), DEFAULT_CTX)
        self.post_message(self.RowsComputed(rows))

    @on(RowsComputed)
    def _rows(self, message: RowsComputed) -> None:
        self.rows = message.rows
        self.fill_table()

    def fill_table(self) -> None:
        table = self.query_one("#catalog-table", DataTable)
        table.clear()
        if self.hub_rows is not None:
            self._fill_hub(table, self.hub_rows)
            return
        shown = filtered(self.rows, self.catalog, self.filter_text)
        add_rows_fitted(table, [(row["id"], catalog_cells(row)) for row in shown])
        if self.selected is None and table.row_count:
            self.selected = str(table.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value)

    def _fill_hub(self, table: DataTable[Any], rows: list[dict[str, Any]]) -> None:
        add_rows_fitted(table, [(cells[0], cells) for cells in map(hub_cells, rows)])
        self.selected = None
        if table.row_count:
            self.selected = str(table.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value)

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.hub_rows = None
        self.filter_text = event.value

    def watch_hub_rows(self) -> None:
        self.fill_table()

    def action_search_hub(self) -> None:
        if not self.filter_text.strip():
            self.notify("type words to search for in the filter (/) first", severity="warning")
            return
        self.notify(f"searching the Hub for {self.filter_text.strip()!r}…")
        self.search_hub(self.filter_text.strip(), self.n_ctx)

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-search")
    def search_hub(self, query: str, n_ctx: int) -> None:
        """`hostbench search QUERY`: the listing and each file's remote header."""
        locations = self.workbench.deps.locations
        found = hub_search(query, locations.hub_search_dir, self.machine(), n_ctx)
        self.post_message(self.HubSearched(hub_rows(found), cached_line(found)))

    @on(HubSearched)
    def _hub_searched(self, message: HubSearched) -> None:
        if message.note:
            self.notify(message.note, severity="warning")
        if not message.rows:
            self.notify("no GGUF files on the Hub match", severity="warning")
        self.hub_rows = message.rows

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
        hub = self._hub_row()
        if hub is not None:
            self.query_one("#detail", Static).update(Text(hub_detail(hub)))
            self.query_one("#verdict", Label).update(hub["fit"] or NA)
            return
        self.estimate()

    def _hub_row(self) -> dict[str, Any] | None:
        rows = self.hub_rows or []
        return next((r for r in rows if f"{r['repo']}/{r['file']}" == self.selected), None)

    def watch_n_ctx(self) -> None:
        self.estimate()

    def estimate(self) -> None:
        if self.selected is not None and self.hub_rows is None:
            self.compute_detail(self.selected, self.n_ctx)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fit")
    def compute_detail(self, model: str, n_ctx: int) -> None:
        """`hostbench fit MODEL --ctx N`, off the UI thread (it may read a GGUF header)."""
        registry = registry_at(self.workbench.deps.locations.store_path)
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
        hub = self._hub_row()
        if hub is not None:
            return hub["reference"]
        row = next((r for r in self.rows if r["id"] == self.selected), None)
        if row is None:
            return None
        return f"{row['id']}:{row['best_quant']}" if row.get("best_quant") else row["id"]

    async def action_pull(self) -> None:
        """Pull the selected model at its best quant for this machine (Models screen)."""
        model = self._chosen()
        if model:
            await self.workbench.open_pull(model)

    async def action_launch(self) -> None:
        """Launch the selected model at its best quant for this machine (Engines screen)."""
        model = self._chosen()
        if model:
            await self.workbench.open_launch(model)
