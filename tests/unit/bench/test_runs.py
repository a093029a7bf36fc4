"""Stored bench runs: the schema migration, a round trip, listing, and the comparison built
from stored runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.comparison import compare
from bench.cost import CostInputs
from bench.limits import Bandwidth, decode_bound
from bench.loadgen import EngineTimings, StreamSample
from bench.metrics import compute_metrics
from bench.power import PowerFigure
from bench.prices import HostedOffers, load_price_table
from bench.runs import BenchRun, BenchRuns, RunNotFoundError
from storage import Store


def samples() -> tuple[StreamSample, ...]:
    timings = EngineTimings(40, 80.0, 8, 350.0)
    ok = StreamSample(
        True,
        100.0,
        500.0,
        8,
        (50.0,) * 7,
        prompt_tokens=40,
        tokens_from_usage=True,
        engine_timings=timings,
    )
    return (ok, ok, StreamSample(False, None, 12.0, 0, error="HTTP 503: loading"))


def make_run(
    concurrency: int = 1,
    group: str = "g1",
    at: float = 1_800_000_000.0,
    target: dict | None = None,
    catalog_id: str | None = "llama-3.1-8b-instruct",
) -> BenchRun:
    found = samples()
    return BenchRun(
        group_id=group,
        created_at=at,
        label="llama",
        target=target or {"kind": "hostbench", "base_url": "http://127.0.0.1:8080/v1"},
        concurrency=concurrency,
        request_rate=float("inf"),
        prompts={"source": "synthetic", "input_len": 32, "output_len": 8},
        metrics=compute_metrics(found, 2.0),
        context={
            "engine": {"catalog_id": catalog_id, "options": {"parallel": 4}},
            "hardware": {"cpu": "x"},
        },
        power=PowerFigure(20.0, "setting", "setting cost.power_w"),
        decode_limit=decode_bound(Bandwidth(20.0, "probe"), 98_000_000, 1_000_000, concurrency),
        prefill={"share": 0.2, "source": "engine timings"},
        samples=found,
    )


def test_runs_round_trip_with_their_requests(tmp_path: Path) -> None:
    runs = BenchRuns(Store(tmp_path / "s.sqlite"))
    original = make_run()
    run_id = runs.add(original)
    back = runs.get(run_id)
    assert back.id == run_id
    assert back.metrics == original.metrics
    assert back.samples == original.samples
    assert back.context == original.context and back.decode_limit == original.decode_limit
    assert back.power == original.power and back.request_rate == float("inf")
    assert runs.get(run_id, with_samples=False).samples == ()
    with pytest.raises(RunNotFoundError, match="bench list"):
        runs.get(run_id + 100)


def test_the_record_holds_the_energy_per_token_and_its_basis(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    power = PowerFigure(
        300.0, "measured", "energy counter: NVIDIA GPU 0, 2 s", seconds=2.0, idle_w=60.0, idle_s=0.5
    )
    run_id = BenchRuns(store).add(replace(make_run(), power=power))
    stored = store.bench_runs(run_id=run_id, limit=1)[0].power["energy"]
    # 16 output tokens in 2.0 s = 8 tok/s: 300 W / (8 x 3600) x 1e6 Wh per 1M output tokens
    whole = 300.0 / (8.0 * 3600.0) * 1e6
    assert stored["wh_per_mtok_output"] == pytest.approx(whole)
    assert stored["basis"] == "measured" and stored["label"] == "energy counter"
    # idle 60 W x 0.5 s = 30 J of the 600 J taken off
    assert stored["serving_wh_per_mtok_output"] == pytest.approx(whole * (1 - 30.0 / 600.0))
    back = BenchRuns(store).get(run_id)
    assert back.power == power and back.energy.as_dict() == stored
    unknown = BenchRuns(store).add(replace(make_run(), power=PowerFigure(None, "unknown", "none")))
    assert store.bench_runs(run_id=unknown, limit=1)[0].power["energy"]["why"] == "none"


def test_newest_group_and_filters(tmp_path: Path) -> None:
    runs = BenchRuns(Store(tmp_path / "s.sqlite"))
    runs.add(make_run(1, "old", at=1.0))
    for c in (4, 1, 8):
        runs.add(make_run(c, "new", at=2.0 + c))
    runs.add(make_run(1, "ep", at=100.0, target={"kind": "endpoint", "base_url": "https://x"}))
    assert [r.concurrency for r in runs.newest_group(kind="hostbench")] == [1, 4, 8]
    assert [r.group_id for r in runs.recent(kind="endpoint")] == ["ep"]
    assert len(runs.recent(label="llama")) == 5 and runs.recent(label="other") == []


def varied(run: BenchRun, series: str, vary: str) -> BenchRun:
    return replace(run, context={**run.context, "series": {"name": series, "vary": vary}})


def test_newest_series_is_every_sweep_of_the_newest_vary_in_the_order_they_ran(
    tmp_path: Path,
) -> None:
    runs = BenchRuns(Store(tmp_path / "s.sqlite"))
    runs.add(varied(make_run(1, "older-vary", at=1.0), "parallel=8", "v0"))
    for at, (series, group) in enumerate([("parallel=2", "a"), ("parallel=4", "b")]):
        for c in (4, 1):
            runs.add(varied(make_run(c, group, at=10.0 * (at + 1) + c), series, "v1"))
    runs.add(replace(make_run(1, "other-model", at=100.0), label="other"))
    found = runs.newest_series(label="llama", kind="hostbench")
    assert [(name, [r.concurrency for r in group]) for name, group in found] == [
        ("parallel=2", [1, 4]),
        ("parallel=4", [1, 4]),
    ], "the older --vary and the other model are left out"
    assert runs.newest_series(label="other") == [("", runs.newest_group(label="other"))]
    assert runs.newest_series(label="nothing") == []
    runs.add(make_run(1, "plain", at=200.0))
    assert [name for name, _ in runs.newest_series(label="llama")] == [""], (
        "a plain sweep after it is one series of its own"
    )


def test_comparison_from_a_run_shows_sources_and_break_even() -> None:
    run = make_run()
    measured = make_run(
        target={"kind": "endpoint", "base_url": "https://api.openai.com/v1", "model": "gpt-5.4"}
    )
    result = compare(
        run,
        CostInputs(rental_usd_per_hour=0.5),
        load_price_table(),
        HostedOffers.load(),
        endpoint_runs=[measured],
        extra_keys=["gpt-5.6-luna", "no-such-offer"],
    )
    groups = {row.price.key: row.group for row in result.hosted}
    assert groups["together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"] == "same model"
    assert groups["claude-haiku-4-5"] == "frontier" and groups["gpt-5.6-luna"] == "requested"
    by_key = {row.price.key: row for row in result.hosted}
    assert by_key["gpt-5.4"].measured is not None  # the user's own run of that endpoint
    assert by_key["claude-haiku-4-5"].measured is None  # "not measured"
    assert all("2026-11-27" in row.source for row in result.hosted)
    assert "bench run" in result.local.source
    assert any("no-such-offer" in note for note in result.notes)
    even = by_key["gpt-5.4"].break_even
    assert even is not None and even.fixed_usd_per_day == pytest.approx(12.0)
    # 40 input tokens per 8 output tokens: the hosted bill is $15 + 5 x $2.50 per 1M output
    assert by_key["gpt-5.4"].blended_usd_per_mtok == pytest.approx(27.5)
    assert even.tokens_per_day == pytest.approx(12.0 / 27.5 * 1e6)


def test_no_cost_settings_say_so_instead_of_a_zero() -> None:
    result = compare(
        make_run(catalog_id="smollm2-135m-instruct"),
        CostInputs(),
        load_price_table(),
        HostedOffers.load(),
    )
    assert result.local.cost.output.usd_per_mtok is None
    assert all(row.break_even is None for row in result.hosted)
    assert any("no hosted copy" in note for note in result.notes)
    assert any("no cost for this machine" in note for note in result.notes)
