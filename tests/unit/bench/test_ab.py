"""The A/B comparison: B/A per level against hand-computed figures, refusals of runs that
did not send the same load, the printed table, and how the pair is chosen and refused."""

from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli.commands.bench_ab import level_rows, log_name, quant_lines, result_json
from app.cli.commands.bench_load import wants_ab
from app.cli.commands.fit import _ab_hint
from bench.ab import compare_runs, ratio
from bench.errors import BenchUnavailableError, BenchUsageError
from bench.loadgen import StreamSample
from bench.metrics import compute_metrics
from bench.runs import BenchRun
from catalog import LocalModel, LocalModels, ModelNotFoundError
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
    parse_quants,
    plan_ab,
    plan_draft_ab,
    plan_quant_ab,
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


def test_the_quants_are_two_different_known_types() -> None:
    assert parse_quants(" q4_1 , Q4_0") == ("Q4_1", "Q4_0")
    for bad in ("Q4_0", "Q4_0,q4_0", "Q4_0,Q8_0,F16", ""):
        with pytest.raises(BenchUsageError, match="two different"):
            parse_quants(bad)
    with pytest.raises(BenchUsageError, match="unknown quantization type 'Q9_9'"):
        parse_quants("Q4_0,Q9_9")


def local_quant(store: Store, folder: Path, quant: str) -> None:
    """A registered file of the default model in `quant` (a stand-in file: planning only
    checks that it is there)."""
    path = folder / f"m.{quant}.gguf"
    path.write_bytes(b"GGUF")
    model_id = f"smollm2-135m-instruct:{quant}"
    model = LocalModel(model_id, path, "0" * 64, 4, "test", quant, "smollm2-135m-instruct")
    LocalModels(store).register(model)


def test_a_quant_ab_runs_only_what_is_here_and_says_how_to_get_the_rest(
    home: Path, tmp_path: Path
) -> None:
    locations = Locations.from_env().ensure()
    store = Store(locations.store_path)
    local_quant(store, tmp_path, "Q4_1")
    with pytest.raises(BenchUnavailableError) as refused:
        plan_quant_ab("smollm2-135m-instruct", ("Q4_1", "Q8_0"), Settings(), locations, store)
    message = str(refused.value)
    assert "both quantizations of smollm2-135m-instruct" in message and "only Q4_1 can" in message
    # the catalog lists a Q8_0 file: pull it; it lists no Q4_0: make one from the local copy
    assert "Q8_0 cannot: smollm2-135m-instruct:Q8_0 is not on this machine: hostbench pull " \
        "smollm2-135m-instruct:Q8_0" in message  # fmt: skip
    with pytest.raises(BenchUnavailableError, match="hostbench quantize smollm2-135m-instruct "
                       "--to Q4_0"):  # fmt: skip
        plan_quant_ab("smollm2-135m-instruct", ("Q4_1", "Q4_0"), Settings(), locations, store)
    assert LocalModels(store).get("smollm2-135m-instruct:Q8_0") is None, "planning pulls nothing"
    local_quant(store, tmp_path, "Q4_0")
    plan = plan_quant_ab(
        "smollm2-135m-instruct:Q4_1", ("Q4_1", "Q4_0"), Settings(), locations, store
    )
    assert plan.model == "smollm2-135m-instruct" and plan.quants == ("Q4_1", "Q4_0")
    assert [(arm.name, arm.order.model, arm.order.engine) for arm in plan.arms] == [
        ("Q4_1", "smollm2-135m-instruct:Q4_1", "llama.cpp"),
        ("Q4_0", "smollm2-135m-instruct:Q4_0", "llama.cpp"),
    ]
    assert plan.arms[1].runnable and "m.Q4_0.gguf on llama.cpp" in plan.arms[1].why


def test_a_quant_ab_prints_the_speed_of_b_against_a_and_both_quality_figures() -> None:
    a, b = a_and_b()
    plan = replace(
        plan_with(("Q4_1", True, "here"), ("Q4_0", True, "here")), quants=("Q4_1", "Q4_0")
    )
    arms = (
        ArmResult(plan.arms[0], "A", _status("llama.cpp", "llama-server"), "b1", [a]),
        ArmResult(plan.arms[1], "B", _status("llama.cpp", "llama-server"), "b1", [b]),
    )
    lines = quant_lines(AbResult(plan, arms, compare_runs([a], [b])))
    assert lines == [
        "A: Q4_1: llama.cpp's figures: 5.11 bits per weight, +0.4511 ppl @ Llama-3-8B",
        "B: Q4_0: llama.cpp's figures: 4.64 bits per weight, +0.4685 ppl @ Llama-3-8B",
        "conc 1: Q4_0 gives 2.00x the output tok/s of Q4_1",  # 16 tok/s against 8 (above)
    ]
    assert quant_lines(AbResult(plan_with(), arms, [])) == [], "only an A/B of quantizations"


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


def test_each_arm_logs_to_a_file_of_its_own() -> None:
    """The arms of a draft or quantization A/B share an engine; B's log once replaced A's."""
    orders = [
        LaunchOrder("smollm2-135m-instruct:Q4_1", "llama.cpp"),
        LaunchOrder("smollm2-135m-instruct:Q4_0", "llama.cpp"),
        LaunchOrder("m", "llama.cpp", options={"draft_model": "d"}),
        LaunchOrder("m", "llama.cpp"),
        LaunchOrder("m", "openai-compatible", profile="llama-cpp-python"),
    ]
    names = [log_name(order) for order in orders]
    assert len(set(names)) == len(names)
    assert names[0] == "ab-smollm2-135m-instruct-Q4_1-engine-llama.cpp.stderr"
    assert all("/" not in name and name.endswith(".stderr") for name in names)


def test_a_quant_ab_needs_a_model_id_and_a_known_one(home: Path) -> None:
    locations = Locations.from_env().ensure()
    store = Store(locations.store_path)
    pair = ("Q4_1", "Q4_0")
    for one_file in ("/models/m.Q8_0.gguf", "hf:org/repo/m.gguf"):
        with pytest.raises(BenchUsageError, match="not a file"):
            plan_quant_ab(one_file, pair, Settings(), locations, store)
    with pytest.raises(ModelNotFoundError, match="did you mean smollm2-135m-instruct"):
        plan_quant_ab("smollm2-135m-instrct", pair, Settings(), locations, store)


def test_an_empty_ab_option_is_refused_not_taken_for_a_plain_bench(home: Path) -> None:
    """`--quants=` once ran a whole plain bench of the default model."""
    given = {"ab": False, "engines": None, "draft_model": None, "quants": None}
    assert not wants_ab(Namespace(**given))
    for option in ("engines", "draft_model", "quants"):
        assert wants_ab(Namespace(**{**given, option: ""})), option
    locations = Locations.from_env().ensure()
    with pytest.raises(BenchUsageError, match="name the draft model"):
        plan_draft_ab("m", " ", Settings(), locations, Store(locations.store_path))
