"""The trade-off curve from stored-shape runs: points, the Pareto front across series,
cost per point, and where self-hosting gets cheaper than a hosted offer."""

from __future__ import annotations

from dataclasses import replace

from bench.cost import CostInputs
from bench.curve import build_curves, cheaper_from, dominates, mark_pareto, run_point
from bench.metrics import compute_metrics
from bench.runs import BenchRun
from tests.unit.bench.test_runs import make_run

POWER = CostInputs(electricity_usd_per_kwh=0.15, rental_usd_per_hour=1.0)


def shaped(conc: int, tok_s: float, ttft_p99: float, tpot_p50: float, **extra: float) -> BenchRun:
    """A stored run at `conc` with the given figures (the rest as recorded)."""
    run = make_run(conc)
    ttft = {**run.metrics.ttft_ms, "p99": ttft_p99}
    tpot = {**run.metrics.tpot_ms, "p50": tpot_p50}
    metrics = replace(run.metrics, output_throughput=tok_s, ttft_ms=ttft, tpot_ms=tpot, **extra)
    return replace(run, id=conc, metrics=metrics)


def test_a_point_carries_the_runs_figures_and_its_cost() -> None:
    run = shaped(4, 100.0, 900.0, 30.0, goodput=1.5)
    point = run_point(run, "parallel=4", POWER)
    assert point is not None
    assert (point.concurrency, point.series, point.run_id) == (4, "parallel=4", 4)
    assert (point.output_tokens_per_s, point.ttft_p99_ms, point.tpot_p50_ms) == (100, 900, 30)
    assert point.ttft_p50_ms == run.metrics.ttft_ms["p50"] and point.goodput == 1.5
    # a rental of $1/h over 100 tok/s on the 80 % of the time spent on output: 1/(125*3600)*1e6
    assert point.usd_per_mtok_output is not None
    assert abs(point.usd_per_mtok_output - 1e6 / (125 * 3600)) < 1e-9
    unpriced = run_point(run)
    assert unpriced is not None and unpriced.usd_per_mtok_output is None


def test_a_run_without_completed_requests_has_no_point() -> None:
    empty = replace(make_run(8), metrics=compute_metrics([], 1.0))
    assert run_point(empty) is None


def test_a_saturated_level_is_dominated() -> None:
    """More streams past saturation: less throughput and worse latency."""
    points = [run_point(shaped(c, t, p, q)) for c, t, p, q in
              ((1, 20, 100, 20), (4, 60, 300, 25), (8, 55, 900, 40))]  # fmt: skip
    marked = mark_pareto([p for p in points if p is not None])
    assert [p.pareto for p in marked] == [True, True, False]
    assert dominates(marked[1], marked[2]) and not dominates(marked[0], marked[1])


def test_equal_points_do_not_dominate_each_other() -> None:
    point = run_point(shaped(1, 20, 100, 20))
    assert point is not None and not dominates(point, point)


def test_the_front_spans_every_series() -> None:
    """parallel=2 is beaten at every level by parallel=4: only parallel=4 is on the front."""
    two = [shaped(1, 20, 150, 25), shaped(4, 40, 500, 30)]
    four = [shaped(1, 22, 120, 22), shaped(4, 70, 400, 28)]
    curves = build_curves([("parallel=2", two), ("parallel=4", four)], lambda _run: POWER)
    assert [c.series for c in curves] == ["parallel=2", "parallel=4"]
    assert [p.pareto for p in curves[0].points] == [False, False]
    assert [p.pareto for p in curves[1].points] == [True, True]
    assert all(p.usd_per_mtok_output for c in curves for p in c.points)


def test_cheaper_from_is_the_least_load_that_beats_the_offer() -> None:
    runs = [shaped(1, 10, 100, 20), shaped(4, 40, 300, 25), shaped(8, 80, 900, 40)]
    (curve,) = build_curves([("", runs)], lambda _run: POWER)
    costs = [p.usd_per_mtok_output for p in curve.points]
    assert costs == sorted(costs, reverse=True)  # more tokens per hour: cheaper each
    middle = costs[1]
    assert middle is not None
    found = cheaper_from(curve.points, "gpt-x", middle + 0.01)
    assert found.point is not None and found.point.concurrency == 4
    assert cheaper_from(curve.points, "cheap", 0.0001).point is None
    (unpriced,) = build_curves([("", runs)])
    assert cheaper_from(unpriced.points, "any", 100.0).point is None
