"""The Compare screen's content, from the functions `hostbench compare` and `hostbench bench`
use: this machine's newest stored sweep next to hosted prices, as table rows and bars, its
trade-off curve (one per value after a `bench --vary`), and the quick bench started from
the screen. Blocking where it reads the store or benches; no
Textual here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.display.compare_rows import footer_lines, hosted_cells, local_row
from app.display.cost import electricity_inputs, energy_cell, hourly_inputs
from app.display.curve_chart import cheaper_lines, curve_charts
from app.display.numbers import num, usd
from bench.comparison import Comparison, HostedRow
from bench.cost import tokens_per_s_to_match
from bench.curve import Curve
from bench.errors import BenchNotFoundError
from bench.runs import BenchRun, BenchRuns
from bench.session import BenchPlan, SweepProgress
from control.api import EngineStatus
from hardware import MachineSnapshot
from profiles import Locations, Settings
from storage import Store
from workflows.benchmarking import (
    PromptSpec,
    build_comparison,
    effective_cost,
    make_prompts,
    prepare_local,
    run_bench,
)
from workflows.curves import BeforeBench, cheaper_than, sweep_curves

QUICK_PLAN = BenchPlan(concurrencies=(1, 4), warmup=1)
"""One stream, then four: the latency of a single user and what batching adds."""
QUICK_PROMPTS = PromptSpec(input_len=64, output_len=32, num_prompts=8)
"""Eight short requests per level: seconds on a small model, enough for a p50."""
QUICK_DESCRIPTION = (
    f"concurrency {' and '.join(map(str, QUICK_PLAN.concurrencies))}, "
    f"{QUICK_PROMPTS.num_prompts} requests each, {QUICK_PROMPTS.input_len}-token prompts, "
    f"{QUICK_PROMPTS.output_len}-token answers"
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("group", ""),
    ("offer", "offer"),
    ("$/1M out", "$/1M out"),
    ("out tok/s", "out tok/s"),
    ("ttft p50", "TTFT p50"),
    ("$/1M in", "$/1M in"),
    ("$/1M out+in", "$/1M out+in"),
    ("break-even out tok/day", "break-even"),
    ("Wh/1M out", "Wh/1M"),
)
"""(key in `hostbench compare`'s rows, column heading here), the most telling first: a
narrow terminal scrolls the table sideways. The provider column is left out (the offer's
key names it), and this machine's concurrency goes in its group cell."""
HERE = "here"
"""The group of this machine's rows (`hostbench compare` says "this machine")."""


@dataclass(frozen=True)
class CompareData:
    """One model's newest sweep, compared level by level; the first is the level
    `hostbench compare` shows (the fastest), against which break-even is computed."""

    comparisons: tuple[Comparison, ...]
    prices: str
    """The price table's source and date."""
    curves: tuple[Curve, ...] = ()
    """The trade-off curve of the newest sweep, or one per value of the newest `bench
    --vary`, each point priced."""

    @property
    def primary(self) -> Comparison:
        return self.comparisons[0]

    @property
    def model(self) -> str:
        return self.primary.local.label


def load_comparisons(
    settings: Settings,
    locations: Locations,
    store: Store,
    preferred: str | None,
    snapshot: MachineSnapshot | None = None,
) -> CompareData | None:
    """`hostbench compare` for the preferred model (the one served), else for the newest
    stored run of any model, at every level of its newest sweep; None without a run."""
    for model in dict.fromkeys((preferred, None)):
        try:
            primary, prices = build_comparison(settings, locations, store, model, snapshot=snapshot)
        except BenchNotFoundError:
            continue
        others = [
            build_comparison(
                settings, locations, store, primary.local.label, concurrency=level,
                snapshot=snapshot,
            )[0]
            for level in sweep_levels(store, primary.local.label)
            if level != primary.local.concurrency
        ]  # fmt: skip
        cost = effective_cost(settings, locations, snapshot=snapshot).cost
        series = BenchRuns(store).newest_series(label=primary.local.label, kind="hostbench")
        return CompareData((primary, *others), prices, tuple(sweep_curves(series, cost)))
    return None


def sweep_levels(store: Store, model: str) -> list[int]:
    """The concurrency levels of the model's newest sweep that completed a request."""
    group = BenchRuns(store).newest_group(label=model, kind="hostbench")
    return [run.concurrency for run in group if run.metrics.completed]


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[str, ...]
    here: bool


def local_cells(comparison: Comparison) -> dict[str, Any]:
    """`hostbench compare`'s row for this machine, with the energy per 1M output tokens."""
    cells = local_row(comparison)
    cells["group"] = f"{HERE}, conc {comparison.local.concurrency}"
    cells["Wh/1M out"] = energy_cell(comparison.local.cost.energy)
    return cells


def hosted_row_cells(row: HostedRow) -> dict[str, Any]:
    """`hostbench compare`'s row for a hosted offer, narrowed for a terminal: throughput
    shows "-" where TTFT already says "not measured"; a break-even "from the first token"
    reads "always" (cheaper here at any volume; a note says why), next to "never"."""
    cells = hosted_cells(row) | {"Wh/1M out": "-"}
    if row.measured is None:
        cells["out tok/s"] = "-"
    if cells["break-even out tok/day"] == "from the first token":
        cells["break-even out tok/day"] = "always"
    return cells


def table_rows(data: CompareData) -> list[Row]:
    """This machine at each level, then every hosted offer, in `COLUMNS` order."""
    rows = []
    for comparison in sorted(data.comparisons, key=lambda c: c.local.concurrency):
        cells = local_cells(comparison)
        rows.append(Row(f"here-{comparison.local.concurrency}", _ordered(cells), True))
    for hosted in data.primary.hosted:
        rows.append(Row(f"hosted-{hosted.price.key}", _ordered(hosted_row_cells(hosted)), False))
    return rows


def _ordered(cells: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(cells.get(key, "")) for key, _ in COLUMNS)


def title_line(data: CompareData) -> str:
    """Which model and which stored run the table is about."""
    local = data.primary.local
    return f"{local.label} · {local.source}"


def detail_lines(data: CompareData) -> list[str]:
    """How fast against the physical bound, what the cost figures rest on, then the notes
    `hostbench compare` prints (price table, break-even, what is missing)."""
    local = data.primary.local
    bound = ""
    if local.decode_bound_tokens_per_s:
        share = 100 * local.decode_tokens_per_s / local.decode_bound_tokens_per_s
        bound = f" (bound {num(local.decode_bound_tokens_per_s)} tok/s: {num(share, 0)} %)"
    energy = local.cost.wh_per_mtok_total
    inputs = local.cost.inputs
    lines = [
        f"at concurrency {local.concurrency} (break-even is against it): decode "
        f"{num(local.decode_tokens_per_s)} tok/s per stream{bound}"
        + (f"; {num(energy)} Wh per 1M tokens in+out" if energy is not None else ""),
    ]
    if inputs.basis != "none":  # else a note says what to set
        lines.append(f"cost: {hourly_inputs(inputs)}; {electricity_inputs(inputs)}")
    return lines + [f"note: {line}" for line in footer_lines(data.primary, data.prices)]


# -- the curve, and the page before any bench ----------------------------------------------

CURVE_WIDTH = 50
"""Chart columns: with the axis labels, the chart fits an 80-column terminal."""


def curve_lines(data: CompareData) -> list[str]:
    """The sweep's curve, then from which load each hosted offer costs more than here."""
    if sum(len(curve.points) for curve in data.curves) < 2:
        return []
    prices = [row.price for row in data.primary.hosted]
    found = cheaper_than(data.curves, prices)
    return [
        *curve_charts(data.curves, CURVE_WIDTH, height=8),
        "",
        *cheaper_lines(data.curves, found),
    ]


def hour_line(before: BeforeBench) -> str:
    """What an hour here costs, from the cost settings alone."""
    hour = before.hour
    if hour.basis == "none":
        return "an hour here: unknown: set cost.power_w (power) or a rental/purchase price"
    return (
        f"an hour here: {usd(before.usd_per_hour)} ({hourly_inputs(hour)}; "
        f"{electricity_inputs(hour)})"
    )


def offer_lines(before: BeforeBench) -> list[str]:
    """Each hosted offer's prices, and the output rate a bench here must reach to match it."""
    rows = [("offer", "$/1M in", "$/1M out", "out tok/s to match")]
    for price in before.offers:
        rate = tokens_per_s_to_match(before.usd_per_hour, price.output_usd_per_mtok)
        rows.append(
            (price.key, usd(price.input_usd_per_mtok), usd(price.output_usd_per_mtok), num(rate))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def before_lines(before: BeforeBench) -> list[str]:
    """The Compare page before any bench: the hour, the offers, what the last column means."""
    return [
        hour_line(before),
        "",
        *offer_lines(before),
        "",
        "out tok/s to match: where an hour here costs what the offer charges for the "
        "same output tokens; a bench above it makes them cheaper here",
        f"prices: {before.prices}",
    ]


# -- the bar chart -------------------------------------------------------------------------

EIGHTHS = " ▏▎▍▌▋▊▉"
LABEL_MAX = 30


@dataclass(frozen=True)
class Bar:
    label: str
    usd_per_mtok: float | None
    here: bool


@dataclass(frozen=True)
class BarLine:
    label: str
    bar: str
    value: str
    here: bool


def cost_bars(data: CompareData) -> list[Bar]:
    """$ per 1M output tokens: this machine at each level, then each hosted offer."""
    bars = [
        Bar(f"here, concurrency {c.local.concurrency}", c.local.cost.output.usd_per_mtok, True)
        for c in sorted(data.comparisons, key=lambda c: c.local.concurrency)
    ]
    bars += [Bar(h.price.key, h.price.output_usd_per_mtok, False) for h in data.primary.hosted]
    return bars


def bar_lines(bars: Sequence[Bar], width: int) -> list[BarLine]:
    """Each bar on one line of `width` cells: label, bar (linear, in eighths of a cell,
    never invisible above zero), value. An unknown cost says so instead of a bar."""
    if not bars:
        return []
    label_width = min(LABEL_MAX, max(len(b.label) for b in bars), max(8, width // 3))
    values = [usd(b.usd_per_mtok) if b.usd_per_mtok is not None else "unknown" for b in bars]
    value_width = max(len(v) for v in values)
    bar_width = max(1, width - label_width - value_width - 2)
    top = max((b.usd_per_mtok or 0.0 for b in bars), default=0.0)
    return [
        BarLine(
            _clip(bar.label, label_width).ljust(label_width),
            block(bar.usd_per_mtok, top, bar_width).ljust(bar_width),
            value.rjust(value_width),
            bar.here,
        )
        for bar, value in zip(bars, values, strict=True)
    ]


def block(value: float | None, top: float, width: int) -> str:
    """`value` out of `top` as full and partial blocks, at most `width` cells."""
    if value is None or value <= 0 or top <= 0:
        return ""
    eighths = max(1, round(8 * width * min(value, top) / top))
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- the quick bench -----------------------------------------------------------------------


@dataclass(frozen=True)
class BenchStep:
    """How far the quick bench is, over all its levels."""

    done: int
    total: int
    line: str


def bench_step(progress: SweepProgress) -> BenchStep:
    """Requests done over the whole sweep (each level sends the same number)."""
    total = progress.total * progress.levels
    done = (progress.level - 1) * progress.total + progress.done
    failed = f", {progress.failed} failed" if progress.failed else ""
    line = (
        f"concurrency {progress.concurrency} (level {progress.level} of {progress.levels}): "
        f"{progress.done}/{progress.total} requests{failed}"
    )
    return BenchStep(done, total, line)


def quick_bench(
    settings: Settings,
    locations: Locations,
    status: EngineStatus,
    base_url: str,
    *,
    progress: Callable[[SweepProgress], object],
    cancel: threading.Event,
) -> list[BenchRun]:
    """`hostbench bench MODEL --concurrency 1,4 --num-prompts 8 --input-len 64
    --output-len 32` against the running server's engine `status`; stored like any run."""
    store = Store(locations.store_path)
    prepared = prepare_local(settings, locations, store, status, base_url)
    prompts = make_prompts(QUICK_PROMPTS, QUICK_PLAN, prepared.tokenizer)
    cost = effective_cost(settings, locations).cost
    return run_bench(prepared, QUICK_PLAN, prompts, store, cost, progress=progress, cancel=cancel)
