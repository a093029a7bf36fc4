"""The trade-off curve as a file (`hostbench bench --report FILE`): an SVG of the two charts,
or, for any other suffix, an HTML page with the charts, the table of points and the notes.
Hand-written SVG: lines per series, Pareto-optimal points filled, a tooltip per point."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

from app.display.curve_chart import CURVE_COLUMNS, curve_rows, nice_top, tick_label
from bench.curve import Curve, CurvePoint

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
PANEL_W, PANEL_H, PAD = 440, 300, 56
Figure = Callable[[CurvePoint], float | None]


def _top(values: Sequence[float]) -> float:
    return nice_top(max(values, default=0.0))


def _xy(x: float, y: float, x_top: float, y_top: float) -> tuple[float, float]:
    width, height = PANEL_W - 2 * PAD, PANEL_H - 2 * PAD
    return PAD + x / x_top * width, PANEL_H - PAD - y / y_top * height


def _axes(title: str, x_top: float, y_top: float) -> list[str]:
    left, bottom = PAD, PANEL_H - PAD
    return [
        f'<text x="{PANEL_W / 2}" y="20" text-anchor="middle" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<line x1="{left}" y1="{PAD}" x2="{left}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{left}" y1="{bottom}" x2="{PANEL_W - PAD}" y2="{bottom}" stroke="#444"/>',
        f'<text x="{left - 4}" y="{PAD + 4}" text-anchor="end">{tick_label(y_top)}</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>',
        f'<text x="{PANEL_W - PAD}" y="{bottom + 16}" text-anchor="end">{tick_label(x_top)}</text>',
        f'<text x="{PANEL_W / 2}" y="{bottom + 34}" text-anchor="middle">output tok/s</text>',
        f'<text x="14" y="{PANEL_H / 2}" transform="rotate(-90 14 {PANEL_H / 2})" '
        'text-anchor="middle">ms</text>',
    ]


def _tooltip(point: CurvePoint) -> str:
    row = curve_rows([Curve(point.series, (point,))])[0]
    return html.escape("; ".join(f"{c} {row[c]}" for c in CURVE_COLUMNS if row[c]))


def _series(
    curve: Curve, figure: Figure, colour: str, tops: tuple[float, float], dashed: bool
) -> list[str]:
    placed = [(p, _xy(p.output_tokens_per_s, v, *tops)) for p in curve.points if (v := figure(p))]
    path = " ".join(f"{x:.1f},{y:.1f}" for _, (x, y) in placed)
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    parts = [f'<polyline points="{path}" fill="none" stroke="{colour}"{dash}/>']
    for point, (x, y) in placed:
        fill = colour if point.pareto and not dashed else "white"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if point.pareto else 4}" fill="{fill}" '
            f'stroke="{colour}"><title>{_tooltip(point)}</title></circle>'
            f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" font-size="10">c{point.concurrency}</text>'
        )
    return parts


def panel(curves: Sequence[Curve], title: str, figures: Sequence[Figure], x0: float) -> str:
    """One chart: each figure of each curve, the first solid, the others dashed."""
    points = [p for c in curves for p in c.points]
    values = [v for f in figures for p in points if (v := f(p)) is not None]
    tops = (_top([p.output_tokens_per_s for p in points]), _top(values))
    body = _axes(title, *tops)
    for index, curve in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        for rank, figure in enumerate(figures):
            body += _series(curve, figure, colour, tops, dashed=rank > 0)
    return f'<g transform="translate({x0},0)">{"".join(body)}</g>'


def _legend(curves: Sequence[Curve]) -> str:
    items = [
        f'<tspan fill="{COLOURS[i % len(COLOURS)]}">● {html.escape(c.series or "this sweep")}'
        "</tspan>  "
        for i, c in enumerate(curves)
    ]
    note = "filled: Pareto-optimal; TTFT: p99 solid, p50 dashed"
    return f'<text x="{PAD}" y="{PANEL_H + 10}">{"".join(items)} {note}</text>'


def curve_svg(curves: Sequence[Curve]) -> str:
    """TTFT p99 and p50 against output tok/s, and TPOT p50, side by side."""
    ttft = panel(curves, "TTFT", [lambda p: p.ttft_p99_ms, lambda p: p.ttft_p50_ms], 0)
    tpot = panel(curves, "TPOT p50", [lambda p: p.tpot_p50_ms], PANEL_W)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * PANEL_W}" '
        f'height="{PANEL_H + 24}" font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>{ttft}{tpot}{_legend(curves)}</svg>'
    )


def _table(curves: Sequence[Curve]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in CURVE_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row[c])}</td>" for c in CURVE_COLUMNS) + "</tr>"
        for row in curve_rows(curves)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def curve_html(curves: Sequence[Curve], title: str, notes: Sequence[str]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in notes)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{curve_svg(curves)}{_table(curves)}"
        f"<ul>{items}</ul></body></html>\n"
    )


def write_report(path: Path, curves: Sequence[Curve], title: str, notes: Sequence[str]) -> None:
    """`.svg`: the charts alone; anything else: the HTML page."""
    text = curve_svg(curves) + "\n" if path.suffix.lower() == ".svg" else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text or curve_html(curves, title, notes), encoding="utf-8")
