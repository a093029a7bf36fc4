"""The throughput-latency trade-off of a sweep, as `vllm bench sweep` and GuideLLM draw it:
one point per stored run (output tok/s against TTFT p50/p99 and TPOT p50), with its goodput
and its $ per 1M output tokens, and the Pareto-optimal points marked.

A point is Pareto-optimal when no other point of the same chart makes at least as many
output tokens per second with a TTFT p99 and a TPOT p50 at least as low, and is better in
one of the three: the levels worth choosing between. Runs with no completed request have
no figures and are left out. Pure functions of stored runs; front ends only draw them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bench.cost import CostInputs, run_cost
from bench.runs import BenchRun


@dataclass(frozen=True)
class CurvePoint:
    """One run on the curve. Latencies in ms; None where the run has no such figure."""

    run_id: int | None
    series: str
    """Which curve: "" for a plain sweep, `NAME=VALUE` for a varied engine setting."""
    concurrency: int
    output_tokens_per_s: float
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None
    goodput: float | None
    """Requests per second within the SLO; None when the bench had no --slo."""
    usd_per_mtok_output: float | None
    """None: no cost basis (no power figure, no price set)."""
    pareto: bool = False


@dataclass(frozen=True)
class Curve:
    """One series' points, by concurrency."""

    series: str
    points: tuple[CurvePoint, ...]


def _figure(values: dict[str, float], key: str) -> float | None:
    value = values.get(key)
    return value if value is not None and math.isfinite(value) else None


def run_point(
    run: BenchRun, series: str = "", inputs: CostInputs | None = None
) -> CurvePoint | None:
    """A run's point, priced with `inputs` (None: unpriced); None if nothing completed."""
    m = run.metrics
    if not m.completed:
        return None
    cost = None
    if inputs is not None:
        priced = run_cost(inputs, m.output_throughput, run.input_tokens_per_s, run.prefill_share)
        cost = priced.output.usd_per_mtok
    return CurvePoint(
        run_id=run.id,
        series=series,
        concurrency=run.concurrency,
        output_tokens_per_s=m.output_throughput,
        ttft_p50_ms=_figure(m.ttft_ms, "p50"),
        ttft_p99_ms=_figure(m.ttft_ms, "p99"),
        tpot_p50_ms=_figure(m.tpot_ms, "p50"),
        goodput=m.goodput,
        usd_per_mtok_output=cost if cost is not None and math.isfinite(cost) else None,
    )


def _objectives(point: CurvePoint) -> tuple[float, float, float]:
    """All three as "lower is better"; a missing latency counts as the worst."""
    return (
        -point.output_tokens_per_s,
        math.inf if point.ttft_p99_ms is None else point.ttft_p99_ms,
        math.inf if point.tpot_p50_ms is None else point.tpot_p50_ms,
    )


def dominates(a: CurvePoint, b: CurvePoint) -> bool:
    """`a` is at least as good as `b` in every objective and better in one."""
    first, second = _objectives(a), _objectives(b)
    return all(x <= y for x, y in zip(first, second, strict=True)) and first != second


def mark_pareto(points: Sequence[CurvePoint]) -> list[CurvePoint]:
    """The points, each marked optimal unless another one dominates it."""
    return [
        replace(point, pareto=not any(dominates(other, point) for other in points))
        for point in points
    ]


def build_curves(
    runs_by_series: Sequence[tuple[str, Sequence[BenchRun]]],
    inputs_for: Callable[[BenchRun], CostInputs] | None = None,
) -> list[Curve]:
    """One curve per series; the Pareto front is taken over every series together, so it
    says which setting and level to keep."""
    tagged = [
        (series, point)
        for series, runs in runs_by_series
        for run in runs
        if (point := run_point(run, series, inputs_for(run) if inputs_for else None))
    ]
    marked = mark_pareto([point for _, point in tagged])
    return [
        Curve(series, tuple(sorted((p for p in marked if p.series == series), key=_level)))
        for series, _ in runs_by_series
    ]


def _level(point: CurvePoint) -> int:
    return point.concurrency


@dataclass(frozen=True)
class CheaperFrom:
    """Where on the curve this machine's output token costs less than a hosted offer's."""

    offer: str
    hosted_usd_per_mtok: float
    point: CurvePoint | None
    """The lowest-throughput point that is cheaper; None: no point is."""


def cheaper_from(points: Sequence[CurvePoint], offer: str, hosted: float) -> CheaperFrom:
    """The least load at which self-hosting beats `hosted` $ per 1M output tokens."""
    cheaper = [
        p for p in points if p.usd_per_mtok_output is not None and p.usd_per_mtok_output < hosted
    ]
    first = min(cheaper, key=lambda p: p.output_tokens_per_s, default=None)
    return CheaperFrom(offer, hosted, first)
