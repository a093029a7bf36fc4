"""The A/B comparison: B/A per level against hand-computed figures, refusals of runs that
did not send the same load, the printed table, and how the pair is chosen and refused."""

from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli.commands.bench_ab import level_rows, result_json
from app.cli.commands.fit import _ab_hint
from bench.ab import compare_runs, ratio
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.loadgen import StreamSample
from bench.metrics import compute_metrics
from bench.runs import BenchRun
from catalog import LocalModels
from control.api import EngineStatus
from profiles import Locations, Settings
from storage import Store
from tests.unit.bench.test_runs import make_run
from workflows.ab import (
    AbArm,
    AbPlan,
    AbResult,
    ArmResult,
    parse_pair,
    plan_ab,
    refuse_unless_two_run,
)
from workflows.benchmarking import prepare_local
from workflows.launching import LaunchOrder
from workflows.recommend import Recommendation


def two_streams(ttfts: tuple[float, float], tpot: float, duration_s: float) -> BenchRun:
    """Two requests of 8 tokens: e2e = ttft + 7 x tpot."""
    samples = tuple(
        StreamSample(True, t, t + 7 * tpot, 8, (tpot,) * 7, prompt_tokens=32) for t in ttfts
    )
    return replace(make_run(), metrics=compute_metrics(samples, duration_s), samples=samples)


def a_and_b() -> tuple[BenchRun, BenchRun]:
    a = replace(two_streams((100.0, 300.0), 50.0, 2.0), id=1)
    b = replace(two_streams((50.0, 250.0), 25.0, 1.0), id=2)
    return a, b


def test_b_over_a_per_metric_is_hand_computed() -> None:
    a, b = a_and_b()
    (level,) = compare_runs([a], [b])
    figures = {m.key: (m.a, m.b, m.b_over_a) for m in level.metrics}
    # A: 16 tokens in 2 s; TTFT 100, 300 -> p50 200, p99 100 + 0.99 x 200 = 298; TPOT 50.
    # B: 16 tokens in 1 s; TTFT 50, 250 -> p50 150, p99 50 + 0.99 x 200 = 248; TPOT 25.
    assert figures["output_tok_s"] == pytest.approx((8.0, 16.0, 2.0))
    assert figures["ttft_p50_ms"] == pytest.approx((200.0, 150.0, 0.75))
    assert figures["ttft_p99_ms"] == pytest.approx((298.0, 248.0, 248 / 298))
    assert figures["tpot_p50_ms"] == pytest.approx((50.0, 25.0, 0.5))
    data = level.as_dict()
    assert data["runs"] == {"a": 1, "b": 2} and data["completed"] == {"a": 2, "b": 2}
    assert json.loads(json.dumps(data))["metrics"]["ttft_p50_ms"]["b_over_a"] == 0.75


def test_a_ratio_is_none_where_it_means_nothing() -> None:
    assert ratio(4.0, 2.0) == 0.5
    assert ratio(0.0, 2.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, float("nan")) is None
    assert ratio(float("inf"), 1.0) is None


def test_the_table_shows_both_figures_and_the_ratio() -> None:
    rows = level_rows(compare_runs(*[[run] for run in a_and_b()]))
    assert [r["metric"] for r in rows] == ["out tok/s", "ttft p50 ms", "ttft p99 ms", "tpot p50 ms"]
    assert rows[0] == {"conc": 1, "metric": "out tok/s", "a": "8.00", "b": "16.00", "b/a": "2.00"}
    assert rows[2]["b/a"] == "0.83"


def test_runs_of_a_different_load_are_not_compared() -> None:
    a, b = a_and_b()
    other_prompts = replace(b, prompts={**b.prompts, "seed": 7})
    with pytest.raises(BenchUsageError, match="same prompt set"):
        compare_runs([a], [other_prompts])
    with pytest.raises(BenchUsageError, match="concurrency levels"):
        compare_runs([a], [replace(b, concurrency=4)])


def test_the_pair_is_two_different_names() -> None:
    assert parse_pair(" llama.cpp , llama-cpp-python") == ("llama.cpp", "llama-cpp-python")
    for bad in ("llama.cpp", "llama.cpp,llama.cpp", "a,b,c", ""):
        with pytest.raises(BenchUsageError, match="two different"):
            parse_pair(bad)


def plan_with(*arms: tuple[str, bool, str]) -> AbPlan:
    built = tuple(AbArm(name, LaunchOrder("m", name), ok, why) for name, ok, why in arms)
    return AbPlan("m", built, Recommendation("llama.cpp", (), ()))


def test_one_runnable_engine_is_refused_with_the_reason() -> None:
    plan = plan_with(("llama.cpp", True, "runs GGUF"), ("vllm", False, "needs a CUDA GPU"))
    with pytest.raises(BenchUnavailableError) as refused:
        refuse_unless_two_run(plan, recommended=True)
    message = str(refused.value)
    assert "only llama.cpp can" in message and "vllm cannot: needs a CUDA GPU" in message
    assert "--engines llama.cpp,llama-cpp-python" in message and "hostbench bench m" in message
    assert plan.pair == ["llama.cpp"] and [a.name for a in plan.skipped] == ["vllm"]


def test_two_runnable_engines_make_the_pair_in_order() -> None:
    plan = plan_with(("vllm", True, "fits"), ("llama.cpp", True, "runs GGUF"))
    refuse_unless_two_run(plan, recommended=True)
    assert plan.pair == ["vllm", "llama.cpp"] and plan.skipped == ()


def test_a_preset_names_the_generic_engine(home: Path) -> None:
    locations = Locations.from_env().ensure()
    store = Store(locations.store_path)
    plan = plan_ab(
        "smollm2-135m-instruct",
        Settings(),
        locations,
        store,
        pair=("openai-compatible", "llama-cpp-python"),
    )
    generic, preset = plan.arms
    assert generic.order == LaunchOrder("smollm2-135m-instruct", "openai-compatible")
    assert preset.order.engine == "openai-compatible" and preset.order.profile == "llama-cpp-python"
    assert preset.runnable and "preset llama-cpp-python" in preset.why
    assert LocalModels(store).get("smollm2-135m-instruct") is None, "planning pulls nothing"
    with pytest.raises(BenchUsageError, match="neither an engine"):
        plan_ab("smollm2-135m-instruct", Settings(), locations, store, pair=("llama.cpp", "nope"))


def _status(engine: str, runtime: str) -> EngineStatus:
    return EngineStatus(
        name="m", engine=engine, runtime=runtime, model="m", model_path="/m.gguf", state="ready"
    )


def test_json_names_the_arms_their_runs_and_every_figure() -> None:
    a, b = a_and_b()
    plan = plan_with(("llama.cpp", True, "runs GGUF"), ("vllm", False, "needs a CUDA GPU"))
    arms = (
        ArmResult(plan.arms[0], "A", _status("llama.cpp", "llama-server"), "b1", [a]),
        ArmResult(plan.arms[0], "B", _status("x", "y"), None, [b]),
    )
    data = json.loads(json.dumps(result_json(AbResult(plan, arms, compare_runs([a], [b])))))
    assert [(arm["arm"], arm["runtime"], arm["runs"]) for arm in data["arms"]] == [
        ("A", "llama-server", [1]),
        ("B", "y", [2]),
    ]
    assert data["left_out"] == [{"engine": "vllm", "why": "needs a CUDA GPU"}]
    assert data["prompts"] == a.prompts
    assert data["levels"][0]["metrics"]["output_tok_s"] == {"a": 8.0, "b": 16.0, "b_over_a": 2.0}


def test_fit_points_to_ab_only_where_two_engines_run_on_this_machine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = {"choices": [{"runnable": True}, {"runnable": True}]}
    one = {"choices": [{"runnable": True}, {"runnable": False}]}
    _ab_hint(Namespace(machine=None, model="qwen2.5-7b-instruct"), both)
    _ab_hint(Namespace(machine=None, model="x"), one)
    _ab_hint(Namespace(machine="a100.json", model="y"), both)  # another machine: not "here"
    assert (
        capsys.readouterr().out
        == "    measure both here: hostbench bench --ab qwen2.5-7b-instruct\n"
    )


def test_an_engine_without_a_gguf_file_gets_no_tokenizer_rather_than_a_crash(home: Path) -> None:
    """vLLM's status names a Hugging Face repo, not a file: prompts become approximate."""
    locations = Locations.from_env().ensure()
    status = EngineStatus(
        name="qwen",
        model="qwen2.5-7b-instruct",
        model_path="Qwen/Qwen2.5-7B-Instruct",
        engine="vllm",
        runtime="vllm",
        state="ready",
        options={"max_model_len": 8192},
    )
    prepared = prepare_local(
        Settings(), locations, Store(locations.store_path), status, "http://127.0.0.1:1/v1"
    )
    assert prepared.tokenizer is None and prepared.target.eos_token_id is None
    assert prepared.context["engine"]["engine"] == "vllm" and prepared.limit is None
