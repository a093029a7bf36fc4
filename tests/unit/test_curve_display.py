"""The curve as text and as a file: where marks land, what the legend and table say, and an
SVG that parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from app.display.curve_chart import Mark, cheaper_lines, curve_table, curve_text, scatter
from app.display.curve_report import curve_svg, write_report
from bench.curve import CheaperFrom, build_curves
from tests.unit.bench.test_curve import POWER, shaped

CURVES = build_curves(
    [
        ("parallel=2", [shaped(1, 20, 150, 25), shaped(4, 40, 500, 30)]),
        ("parallel=4", [shaped(1, 22, 120, 22), shaped(4, 70, 400, 28)]),
    ],
    lambda _run: POWER,
)


def test_scatter_puts_the_origin_bottom_left_and_the_top_top_right() -> None:
    lines = scatter([Mark(0, 0, "a"), Mark(100, 100, "b")], width=10, height=5, y_label="ms")
    assert lines[1] == "100 |         b" and lines[5] == "  0 |a"
    assert lines[6] == "    +---------->" and lines[7].endswith("100 output tok/s")


def test_pareto_points_are_upper_case_and_the_legend_names_each_series() -> None:
    text = curve_text(CURVES)
    assert "o parallel=2, x parallel=4; upper case: Pareto-optimal" in text
    grid = "".join(line.partition("|")[2] for line in text.split("TPOT")[0].splitlines())
    assert sorted(grid.replace(" ", "").replace("·", "")) == ["X", "X", "o", "o"], (
        "parallel=2 is dominated at both levels"
    )
    table = curve_table(CURVES)
    assert table[0].split()[:3] == ["SERIES", "CONC", "OUT"]
    assert [" yes " in line for line in table[1:]] == [False, False, True, True]


def test_cheaper_lines_name_the_level_or_say_never() -> None:
    point = CURVES[1].points[1]
    lines = cheaper_lines(
        CURVES, [CheaperFrom("gpt", 9.0, point), CheaperFrom("cheap", 0.01, None)]
    )
    assert lines[0].startswith("from concurrency 4 with parallel=4 (70.0 out tok/s, $")
    assert lines[0].endswith("/1M out) cheaper here than gpt ($9.00)")
    assert lines[1] == "never cheaper here, per 1M output tokens, than cheap ($0.0100)"
    same = cheaper_lines(CURVES, [CheaperFrom("a", 9.0, point), CheaperFrom("b", 8.0, point)])
    assert len(same) == 1 and same[0].endswith("cheaper here than a ($9.00), b ($8.00)")
    unpriced = build_curves([("", [shaped(1, 20, 150, 25)])])
    assert cheaper_lines(unpriced, [])[0].startswith("$/1M out unknown")


def test_the_svg_parses_and_the_html_holds_the_table(tmp_path: Path) -> None:
    root = ET.fromstring(curve_svg(CURVES))
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 4 + 4 + 4, "TTFT p99 and p50, TPOT: four points each"
    write_report(tmp_path / "r.html", CURVES, "title", ["a note"])
    page = (tmp_path / "r.html").read_text()
    assert "<table>" in page and "<li>a note</li>" in page and "parallel=4" in page
