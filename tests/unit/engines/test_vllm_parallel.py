"""vLLM's tensor, pipeline and data parallel sizes, chosen from the GPUs present and the
model, against replayed NVML readings of 1, 2, 4 and 8 GPUs (tests/fixtures/nvml: the one
recorded H100 80GB, repeated where a machine has more; see each fixture's notes).

The arithmetic behind the expectations, by vLLM's rules (engines/vllm/memory.py): an H100
reports 85,520,809,984 bytes, so at gpu_memory_utilization 0.9 vLLM reserves 76.97 GB per
GPU. Llama 3.3 70B in bf16 is 70.554e9 x 2 = 141.1 GB of weights; one 16,384-token sequence
of KV cache is 16,384 x (2 x 80 layers x 8 KV heads x 128 x 2 bytes) = 5.37 GB; plus the
2 GiB runtime allowance per GPU. On one GPU that is 148.6 GB: too much. Over two it is
73.2 + 2.1 = 75.4 GB per GPU: it fits, so tensor parallel 2 is the smallest that does.
"""

from __future__ import annotations

import pytest

from engines.errors import UnsupportedOptionError
from engines.vllm import VllmEngine, VllmOptions
from engines.vllm.adapter import serve_args
from profiles.library import ProfileLibrary
from profiles.planning import plan_options
from tests.unit.catalog.conftest import machine
from tests.unit.engines.conftest import located

MACHINES = {1: "one_gpu_h100_recorded", 2: "h100_x2_repeated", 4: "h100_x4_repeated",
            8: "h100_x8_repeated"}  # fmt: skip
LLAMA_70B = "llama-3.3-70b-instruct"
QWEN_7B = "qwen2.5-7b-instruct"


def decided(engine: VllmEngine, model: str, gpus: int, **values: object) -> VllmOptions:
    """The options a launch would run with: what memory_plan decides, as the launcher
    plans it (profile `auto` resolved against the replayed machine, then the explicit
    values)."""
    snapshot = machine(MACHINES[gpus])
    resolution = plan_options(
        None, None, given=values, defaults=VllmOptions().model_dump(),
        library=ProfileLibrary.load(), snapshot=snapshot, keys=None, engine_id="vllm",
    )  # fmt: skip
    options = VllmOptions.model_validate(resolution.options)
    engine.memory_plan(located(engine, model), options, resolution, snapshot)
    return VllmOptions.model_validate(resolution.options)


@pytest.mark.parametrize(
    ("gpus", "tensor", "data"),
    [(1, 1, 1), (2, 1, 2), (4, 1, 4), (8, 1, 8)],
)
def test_a_model_that_fits_one_gpu_gets_one_replica_per_gpu(
    engine: VllmEngine, gpus: int, tensor: int, data: int
) -> None:
    """Qwen2.5 7B (15.2 GB in bf16) fits one H100's reservation with its full 32k context."""
    options = decided(engine, QWEN_7B, gpus, tensor_parallel_size="auto")
    assert (options.tensor_parallel_size, options.data_parallel_size) == (tensor, data)


@pytest.mark.parametrize(("gpus", "data"), [(2, 1), (4, 2), (8, 4)])
def test_a_70b_model_takes_the_smallest_tensor_parallel_that_holds_it(
    engine: VllmEngine, gpus: int, data: int
) -> None:
    options = decided(engine, LLAMA_70B, gpus, tensor_parallel_size="auto", max_model_len=16384)
    assert (options.tensor_parallel_size, options.data_parallel_size) == (2, data)
    args = serve_args("m/n", "n", options, "127.0.0.1", 1)
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert ("--data-parallel-size" in args) == (data > 1)


def test_the_reasons_say_how_each_size_was_chosen(engine: VllmEngine) -> None:
    snapshot = machine(MACHINES[8])
    resolution = plan_options(
        None, None, given={"tensor_parallel_size": "auto", "max_model_len": 16384},
        defaults=VllmOptions().model_dump(), library=ProfileLibrary.load(), snapshot=snapshot,
        keys=None, engine_id="vllm",
    )  # fmt: skip
    plan = engine.memory_plan(
        located(engine, LLAMA_70B),
        VllmOptions.model_validate(resolution.options),
        resolution,
        snapshot,
    )
    tensor = str(resolution.reasons["tensor_parallel_size"])
    assert tensor.startswith("auto: the smallest power of two of the 8 GPU(s)")
    assert "divides its 64 attention heads" in tensor
    assert str(resolution.reasons["data_parallel_size"]) == (
        "auto: the 8 GPU(s) at hand / 2 per replica (tensor x pipeline) = 4 replica(s), each "
        "with its own KV cache"
    )
    assert resolution.options["tensor_parallel_size"] == 2
    assert plan.refusal is None and "on 8 GPU(s)" in plan.basis, "all 8 GPUs are reserved"


def test_one_gpu_too_small_is_refused_at_tensor_parallel_1(engine: VllmEngine) -> None:
    snapshot = machine(MACHINES[1])
    resolution = plan_options(
        None, None, given={"tensor_parallel_size": "auto", "max_model_len": 16384},
        defaults=VllmOptions().model_dump(), library=ProfileLibrary.load(), snapshot=snapshot,
        keys=None, engine_id="vllm",
    )  # fmt: skip
    options = VllmOptions.model_validate(resolution.options)
    plan = engine.memory_plan(located(engine, LLAMA_70B), options, resolution, snapshot)
    assert resolution.options["tensor_parallel_size"] == 1
    assert "no power of two up to 1 GPU(s) fits" in str(resolution.reasons["tensor_parallel_size"])
    assert "needs about" in (plan.refusal or "")


def test_tensor_parallel_must_divide_the_attention_heads(engine: VllmEngine) -> None:
    """Qwen2.5 7B has 28 attention heads: at 7 % of each GPU only 8-way tensor parallel
    would fit, and 28 does not divide by 8, so 4 is the largest vLLM accepts (and the
    memory check then refuses, naming the fixes)."""
    options = decided(
        engine, QWEN_7B, 8, tensor_parallel_size="auto", gpu_memory_utilization=0.07,
        max_model_len=8192,
    )  # fmt: skip
    assert (options.tensor_parallel_size, options.data_parallel_size) == (4, 1)
    at_eight = engine.fit(
        located(engine, QWEN_7B),
        VllmOptions(tensor_parallel_size=8, gpu_memory_utilization=0.07, max_model_len=8192),
        machine(MACHINES[8]),
    )
    assert at_eight.refusal() is None, "8 would have fitted: only the heads rule it out"


def test_pipeline_parallel_only_when_asked(engine: VllmEngine) -> None:
    options = decided(engine, LLAMA_70B, 8, tensor_parallel_size="auto", max_model_len=16384)
    assert options.pipeline_parallel_size == 1
    staged = decided(
        engine, LLAMA_70B, 8, tensor_parallel_size="auto", pipeline_parallel_size=2,
        max_model_len=16384,
    )  # fmt: skip
    assert (staged.tensor_parallel_size, staged.pipeline_parallel_size) == (1, 2)
    assert staged.data_parallel_size == 4, "8 GPUs / (1 x 2) per replica"


def test_across_nodes_one_replica_spans_the_cluster(engine: VllmEngine) -> None:
    options = decided(
        engine, LLAMA_70B, 8, tensor_parallel_size="auto", pipeline_parallel_size=2,
        ray_address="10.0.0.1:6379", max_model_len=16384,
    )  # fmt: skip
    assert options.data_parallel_size == 1 and options.tensor_parallel_size == 1


def test_explicit_sizes_are_kept_and_data_parallel_counts_its_gpus(engine: VllmEngine) -> None:
    """Data parallel used to be ignored by the memory check: 2 x 4 replicas held 2 GPUs."""
    x8 = machine(MACHINES[8])
    options = decided(engine, QWEN_7B, 8, tensor_parallel_size=2)
    assert (options.tensor_parallel_size, options.data_parallel_size) == (2, None)
    assert "--data-parallel-size" not in serve_args("m/n", "n", options, "127.0.0.1", 1)
    fit = engine.fit(None, VllmOptions(tensor_parallel_size=2, data_parallel_size=4), x8)
    assert fit.share.count == 8 and fit.reserved_bytes == 8 * fit.reserved_per_gpu
    with pytest.raises(UnsupportedOptionError, match=r"2 x 1 x 8 = 16 GPUs.*may use 8"):
        engine.fit(None, VllmOptions(tensor_parallel_size=2, data_parallel_size=8), x8)


def test_an_unknown_model_gets_the_largest_power_of_two(engine: VllmEngine) -> None:
    """No size, no heads (a repo id outside the catalog): all GPUs, in a power of two."""
    x8 = machine(MACHINES[8])
    auto = VllmOptions(tensor_parallel_size="auto")
    options = engine.finalize(auto, x8)
    assert isinstance(options, VllmOptions)
    assert (options.tensor_parallel_size, options.data_parallel_size) == (8, 1)
    six = VllmOptions(tensor_parallel_size="auto", gpus="0,1,2,3,4,5")
    pinned = engine.finalize(six, x8)
    assert isinstance(pinned, VllmOptions)
    assert (pinned.tensor_parallel_size, pinned.data_parallel_size) == (4, 1)
