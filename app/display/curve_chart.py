"""The trade-off curve as text, for `hostbench bench` after a multi-level sweep and the
workbench's Compare screen: scatter charts of latency against output tok/s, one symbol per
series (upper case: Pareto-optimal), and a table of every point.

A renderer of its own rather than plotext: two small scatter plots need a character grid
and four axis labels, and the same layout then serves stdout and a Textual widget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.display.numbers import num, usd
from bench.curve import CheaperFrom, Curve, CurvePoint

SYMBOLS = "oxsvdwzk"
"""One per series, in order; a Pareto-optimal point shows it in upper case."""
P50 = "·"
"""TTFT p50, drawn under its p99 symbol's column."""
CURVE_COLUMNS = (
    "series",
    "conc",
    "out tok/s",
    "ttft p50 ms",
    "ttft p99 ms",
    "tpot p50 ms",
    "goodput req/s",
    "$/1M out",
    "pareto",
    "run",
)


def symbol(index: int, pareto: bool) -> str:
    mark = SYMBOLS[index % len(SYMBOLS)]
    return mark.upper() if pareto else mark


@dataclass(frozen=True)
class Mark:
    """One character placed at data coordinates."""

    x: float
    y: float
    char: str


def _scale(value: float, top: float, cells: int) -> int:
    return min(cells - 1, max(0, round(value / top * (cells - 1)))) if top > 0 else 0


def nice_top(value: float) -> float:
    """A round axis end at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def tick_label(value: float) -> str:
    """An axis end with the decimals a small range needs."""
    return num(value, 0 if value >= 10 else 1 if value >= 1 else 2)


def scatter(marks: Sequence[Mark], width: int, height: int, y_label: str) -> list[str]:
    """`marks` on a `width` x `height` grid from (0, 0), y up; later marks win a cell.
    Axis labels: the y range on the left, the output tok/s range below."""
    x_top = nice_top(max((m.x for m in marks), default=0.0))
    y_top = nice_top(max((m.y for m in marks), default=0.0))
    grid = [[" "] * width for _ in range(height)]
    for mark in marks:
        grid[height - 1 - _scale(mark.y, y_top, height)][_scale(mark.x, x_top, width)] = mark.char
    gutter = max(len(tick_label(y_top)), len(y_label))
    lines = [y_label.rjust(gutter) + " ^"]
    for row, cells in enumerate(grid):
        tick = tick_label(y_top) if row == 0 else ("0" if row == height - 1 else "")
        lines.append(f"{tick.rjust(gutter)} |{''.join(cells).rstrip()}")
    lines.append(" " * gutter + " +" + "-" * width + ">")
    right = f"{tick_label(x_top)} output tok/s"
    lines.append(" " * (gutter + 2) + "0" + right.rjust(width - 1))
    return lines


def _latency_marks(
    curves: Sequence[Curve], figure: Callable[[CurvePoint], float | None]
) -> list[Mark]:
    marks = []
    for index, curve in enumerate(curves):
        for point in curve.points:
            value = figure(point)
            if value is not None:
                marks.append(Mark(point.output_tokens_per_s, value, symbol(index, point.pareto)))
    return marks


def _p50_marks(curves: Sequence[Curve]) -> list[Mark]:
    return [
        Mark(p.output_tokens_per_s, p.ttft_p50_ms, P50)
        for curve in curves
        for p in curve.points
        if p.ttft_p50_ms is not None
    ]


def legend(curves: Sequence[Curve]) -> str:
    names = [f"{symbol(i, False)} {curve.series or 'this sweep'}" for i, curve in enumerate(curves)]
    return f"{', '.join(names)}; upper case: Pareto-optimal (no point is faster with lower latency)"


def curve_charts(curves: Sequence[Curve], width: int = 56, height: int = 10) -> list[str]:
    """TTFT p99 (with p50 as `·`) and TPOT p50 against output tok/s, then the legend."""
    ttft = _p50_marks(curves) + _latency_marks(curves, lambda p: p.ttft_p99_ms)
    tpot = _latency_marks(curves, lambda p: p.tpot_p50_ms)
    return [
        f"TTFT p99 (p50: {P50}) against output tok/s",
        *scatter(ttft, width, height, "ms"),
        "",
        "TPOT p50 against output tok/s",
        *scatter(tpot, width, max(4, height * 2 // 3), "ms"),
        "",
        legend(curves),
    ]


def point_row(point: CurvePoint) -> dict[str, str]:
    return {
        "series": point.series or "-",
        "conc": str(point.concurrency),
        "out tok/s": num(point.output_tokens_per_s),
        "ttft p50 ms": num(point.ttft_p50_ms, 0),
        "ttft p99 ms": num(point.ttft_p99_ms, 0),
        "tpot p50 ms": num(point.tpot_p50_ms),
        "goodput req/s": num(point.goodput, 2),
        "$/1M out": usd(point.usd_per_mtok_output),
        "pareto": "yes" if point.pareto else "",
        "run": str(point.run_id) if point.run_id is not None else "-",
    }


def curve_rows(curves: Sequence[Curve]) -> list[dict[str, str]]:
    return [point_row(point) for curve in curves for point in curve.points]


def curve_table(curves: Sequence[Curve]) -> list[str]:
    """Every point, in `CURVE_COLUMNS`, aligned."""
    rows = curve_rows(curves)
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in CURVE_COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in CURVE_COLUMNS)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in CURVE_COLUMNS) for row in rows]
    return [line.rstrip() for line in lines]


def curve_text(curves: Sequence[Curve], width: int = 56) -> str:
    """What `hostbench bench` prints after a sweep of two or more points."""
    return "\n".join([*curve_charts(curves, width), "", *curve_table(curves)])


NO_COST = (
    "$/1M out unknown at every point: no power figure and no rental or purchase price "
    "(settings [cost]: power_w, rental_usd_per_hour or hardware_usd)"
)


def cheaper_lines(curves: Sequence[Curve], found: Sequence[CheaperFrom]) -> list[str]:
    """From which point of the curve an output token costs less here than each hosted
    offer's, offers that share the point on one line."""
    if all(p.usd_per_mtok_output is None for curve in curves for p in curve.points):
        return [NO_COST]
    groups: dict[CurvePoint | None, list[str]] = {}
    for item in found:
        groups.setdefault(item.point, []).append(f"{item.offer} ({usd(item.hosted_usd_per_mtok)})")
    return [_cheaper_line(point, ", ".join(offers)) for point, offers in groups.items()]


def _cheaper_line(point: CurvePoint | None, offers: str) -> str:
    if point is None:
        return f"never cheaper here, per 1M output tokens, than {offers}"
    series = f" with {point.series}" if point.series else ""
    return (
        f"from concurrency {point.concurrency}{series} ({num(point.output_tokens_per_s)} out "
        f"tok/s, {usd(point.usd_per_mtok_output)}/1M out) cheaper here than {offers}"
    )
