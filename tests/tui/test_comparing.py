"""The Compare screen's pure parts: stored sweeps into table rows and bars, the bar
layout, the quick bench's progress, and the engine recommendation in the launch form."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from app.tui.comparing import (
    COLUMNS,
    Bar,
    bar_lines,
    before_lines,
    bench_step,
    block,
    cost_bars,
    curve_lines,
    load_comparisons,
    table_rows,
)
from app.tui.fitting import recommendation_note
from bench.runs import BenchRuns
from bench.session import SweepProgress
from profiles import Locations, Settings
from storage import Store
from tests.tui.replay import ReplayClient, replay_bench
from tests.tui.test_snapshots import POWER_W, make_home, replay_app, settle
from tests.unit.bench.test_runs import make_run, varied
from workflows.curves import before_bench
from workflows.recommend import EngineChoice, Recommendation


def test_bars_are_linear_in_eighths_and_never_vanish_above_zero() -> None:
    assert block(1.0, 1.0, 4) == "████"
    assert block(0.5, 1.0, 4) == "██"
    assert block(0.25, 1.0, 1) == "▎"
    assert block(0.0001, 10.0, 20) == "▏", "a tiny cost still shows"
    assert block(None, 1.0, 4) == "" and block(0.0, 1.0, 4) == ""


def test_bar_lines_fit_the_width_and_say_unknown() -> None:
    bars = [Bar("here, concurrency 4", None, True), Bar("gpt-5.4", 15.0, False)]
    lines = bar_lines(bars, 50)
    assert all(len(line.label + " " + line.bar + " " + line.value) == 50 for line in lines)
    assert lines[0].value.strip() == "unknown" and not lines[0].bar.strip()
    assert lines[1].value.strip() == "$15.00" and lines[1].bar.strip() == "█" * len(lines[1].bar)
    long = bar_lines([Bar("x" * 80, 1.0, False)], 40)[0]
    assert long.label.endswith("…") and len(long.label) <= 30
    assert bar_lines([], 40) == []


def test_bench_progress_counts_over_every_level() -> None:
    step = bench_step(SweepProgress(2, 2, 4, 3, 8, 1))
    assert (step.done, step.total) == (11, 16)
    assert step.line == "concurrency 4 (level 2 of 2): 3/8 requests, 1 failed"
    assert bench_step(SweepProgress(1, 2, 1, 0, 8, 0)).done == 0


@pytest.fixture
def home_with_a_sweep(tmp_path: Path, clean_env: Path) -> Path:
    """A store with one sweep at concurrency 1 and 4, and an older run at 8 (another sweep)."""
    home = tmp_path / "home"
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home)}).ensure()
    runs = BenchRuns(Store(locations.store_path))
    runs.add(make_run(8, group="old", at=1_700_000_000.0))
    runs.add(make_run(1, group="new"))
    runs.add(make_run(4, group="new", at=1_800_000_001.0))
    return home


def test_each_level_of_the_newest_sweep_is_a_row_next_to_hosted_offers(
    home_with_a_sweep: Path,
) -> None:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home_with_a_sweep)})
    data = load_comparisons(
        Settings(cost={"power_w": 50.0}),
        locations,
        Store(locations.store_path),
        "not-benched",  # the served model has no run: the newest run of any model
        snapshot=ReplayClient.load().machine,
    )
    assert data is not None and data.model == "llama"
    assert sorted(c.local.concurrency for c in data.comparisons) == [1, 4]
    rows = table_rows(data)
    column = {key: i for i, (key, _) in enumerate(COLUMNS)}
    here = [r for r in rows if r.here]
    assert [r.cells[column["group"]] for r in here] == ["here, conc 1", "here, conc 4"]
    assert all(r.cells[column["$/1M out"]].startswith("$") for r in here), "50 W is a cost"
    assert all(r.cells[column["Wh/1M out"]] != "-" for r in here)
    hosted = {r.cells[column["offer"]]: r for r in rows if not r.here}
    assert "together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo" in hosted  # same model
    haiku = hosted["claude-haiku-4-5"].cells
    assert haiku[column["ttft p50"]] == "not measured" and haiku[column["$/1M out"]] == "$5.00"
    assert haiku[column["out tok/s"]] == "-"
    assert haiku[column["break-even out tok/day"]] != "-"
    bars = cost_bars(data)
    assert [b.here for b in bars[:2]] == [True, True] and bars[2].usd_per_mtok is not None


def test_no_stored_run_is_no_comparison(tmp_path: Path, clean_env: Path) -> None:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(tmp_path)}).ensure()
    store = Store(locations.store_path)
    assert load_comparisons(Settings(), locations, store, None, ReplayClient.load().machine) is None


def test_the_launch_form_says_which_engine_and_why() -> None:
    llama = EngineChoice("llama.cpp", True, "runs GGUF files on CPU, GPU or both")
    vllm = EngineChoice("vllm", False, "no CUDA or ROCm GPU")
    note = recommendation_note(
        Recommendation("llama.cpp", ("vLLM cannot run it here: no CUDA or ROCm GPU",), (llama,)),
        "llama.cpp",
    )
    plain = Text.from_markup(note).plain
    assert "engine llama.cpp recommended" in plain and "no CUDA or ROCm GPU" in plain
    other = recommendation_note(Recommendation("vllm", ("8 users",), (vllm, llama)), "llama.cpp")
    assert "--engine vllm" in other, "the form launches llama.cpp: say how to get vLLM"


def test_the_sweep_is_drawn_as_a_curve_with_where_it_beats_each_offer(
    home_with_a_sweep: Path,
) -> None:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home_with_a_sweep)})
    settings = Settings(cost={"power_w": 50.0})
    store = Store(locations.store_path)
    data = load_comparisons(settings, locations, store, "llama", ReplayClient.load().machine)
    assert data is not None and [p.concurrency for p in data.curves[0].points] == [1, 4]
    lines = curve_lines(data)
    assert lines[0].startswith("TTFT p99") and any("Pareto-optimal" in line for line in lines)
    assert any("claude-haiku-4-5 ($5.00)" in line for line in lines[-3:])


def test_every_sweep_of_the_newest_vary_is_its_own_curve(
    home_with_a_sweep: Path,
) -> None:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(home_with_a_sweep)})
    store = Store(locations.store_path)
    runs = BenchRuns(store)
    for at, series in enumerate(("parallel=2", "parallel=4")):
        for c in (1, 4):
            runs.add(varied(make_run(c, series, at=1_900_000_000.0 + 10 * at + c), series, "v"))
    settings = Settings(cost={"power_w": 50.0})
    data = load_comparisons(settings, locations, store, "llama", ReplayClient.load().machine)
    assert data is not None and "(parallel=4) on this machine" in data.primary.local.source
    assert [(c.series, [p.concurrency for p in c.points]) for c in data.curves] == [
        ("parallel=2", [1, 4]),
        ("parallel=4", [1, 4]),
    ]
    legend = next(line for line in curve_lines(data) if "Pareto-optimal" in line)
    assert "parallel=2" in legend and "parallel=4" in legend, legend


def test_before_any_bench_the_page_shows_the_offers_and_the_hour(
    tmp_path: Path, clean_env: Path
) -> None:
    locations = Locations.from_env({"HOSTBENCH_HOME": str(tmp_path)}).ensure()
    settings = Settings(cost={"rental_usd_per_hour": 1.8})
    lines = before_lines(before_bench(settings, locations, ReplayClient.load().machine))
    assert lines[0].startswith("an hour here: $1.80 (rental $1.80/h")
    header = lines[2].split()
    assert header[0] == "offer" and lines[2].endswith("out tok/s to match")
    haiku = next(line for line in lines if line.startswith("claude-haiku-4-5 "))
    assert haiku.split()[-1] == "100.0", "$1.80/h over $5 per 1M: 100 tok/s"
    unknown = before_lines(before_bench(Settings(), locations, ReplayClient.load().machine))
    assert unknown[0].startswith("an hour here: unknown")


async def test_the_page_shows_offers_before_a_bench_and_the_curve_after(
    tmp_path: Path, clean_env: Path
) -> None:
    """Against the recorded server: no stored run, then the recorded sweep and a reload."""
    home = make_home(tmp_path / "home")
    app = replay_app(home, None, Settings(cost={"power_w": POWER_W}))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#compare-empty").display
        assert not screen.query_one("#compare-body").display
        offers = str(screen.query_one("#compare-offers", Static).content)
        assert offers.startswith("an hour here: $") and "claude-haiku-4-5" in offers
        replay_bench(Store(Locations.from_env({"HOSTBENCH_HOME": str(home)}).store_path))
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen.query_one("#compare-body").display
        curve = str(screen.query_one("#compare-curve", Static).content)
        assert curve.startswith("TTFT p99") and "cheaper here than" in curve
