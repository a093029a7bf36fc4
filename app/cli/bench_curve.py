"""The trade-off curve after `hostbench bench`: drawn on stdout when the bench measured two
points or more, and written to `--report FILE` (SVG or HTML) with the runs it came from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.cli.bench_format import describe_prompts
from app.cli.context import CliContext
from app.cli.output import note
from app.display.curve_chart import cheaper_lines, curve_text
from app.display.curve_report import write_report
from bench.runs import BenchRun
from workflows.benchmarking import effective_cost
from workflows.curves import cheaper_than, hosted_offers, sweep_curves

Series = Sequence[tuple[str, Sequence[BenchRun]]]


def source_lines(series: Series) -> list[str]:
    """Where the points come from: the stored runs, the prompts, the SLO."""
    runs = [run for _, group in series for run in group]
    first = runs[0]
    ids = ", ".join(str(run.id) for run in runs)
    slo = ", ".join(f"{k}={v:g}" for k, v in first.metrics.slo.items()) or "none (--slo)"
    return [
        f"{first.label}: stored runs {ids} (`hostbench bench show RUN`)",
        f"prompts: {describe_prompts(first)}",
        f"goodput SLO: {slo}",
    ]


def show_curve(ctx: CliContext, series: Series, report: Path | None, as_json: bool) -> None:
    """Print the chart and where self-hosting gets cheaper (not with --json: stdout is
    the runs), and write the report."""
    cost = effective_cost(ctx.settings, ctx.locations).cost
    curves = sweep_curves(series, cost)
    points = sum(len(curve.points) for curve in curves)
    if not points:
        return
    first = next(run for _, runs in series for run in runs)
    prices = hosted_offers(ctx.locations, first.catalog_id)
    cheaper = cheaper_lines(curves, cheaper_than(curves, prices))
    if points >= 2 and not as_json:
        print()
        print(curve_text(curves))
        print("\n".join(f"cost: {line}" for line in cheaper))
    if report is not None:
        title = f"hostbench bench {first.label}: throughput and latency"
        write_report(report, curves, title, [*source_lines(series), *cheaper])
        note(f"report written to {report}")
