"""The vLLM adapter without vLLM (no GPU on the test machine): command lines, option checks,
memory by vLLM's rules against recorded GPU readings, and its metrics under our names."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from engines.base import with_access_key
from engines.errors import EngineUnavailableError, UnsupportedOptionError
from engines.vllm import VllmEngine, VllmOptions
from engines.vllm.adapter import model_ref, serve_args
from engines.vllm.gpus import check_quantization
from engines.vllm.memory import RUNTIME_ALLOWANCE_BYTES
from engines.vllm.metrics import engine_metrics, kv_cache_capacity_tokens, memory_report
from tests.unit.catalog.conftest import machine
from tests.unit.engines.conftest import located

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vllm"
GIB = 1 << 30


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_catalog_models_are_served_from_their_hugging_face_repo(engine: VllmEngine) -> None:
    model = located(engine, "qwen2.5-7b-instruct")
    assert (
        model_ref(model) == "Qwen/Qwen2.5-7B-Instruct" and model.catalog_id == "qwen2.5-7b-instruct"
    )
    assert model_ref(located(engine, "my-org/my-model")) == "my-org/my-model"
    with pytest.raises(UnsupportedOptionError, match=r"llama\.cpp"):
        located(engine, "/models/x.Q4_K_M.gguf")


def test_argv_renders_every_option_and_leaves_vllm_defaults_alone() -> None:
    options = VllmOptions(
        tensor_parallel_size=2, pipeline_parallel_size=2, gpu_memory_utilization=0.85,
        max_model_len=8192, max_num_seqs=64, dtype="bfloat16", quantization="awq",
        kv_cache_dtype="fp8", enable_prefix_caching=False, distributed_executor_backend="ray",
        trust_remote_code=True,
    )  # fmt: skip
    args = serve_args("Qwen/Qwen2.5-7B-Instruct", "qwen", options, "127.0.0.1", 9000)
    assert args[:2] == ["serve", "Qwen/Qwen2.5-7B-Instruct"]
    expected = {
        "--served-model-name": "qwen", "--port": "9000", "--host": "127.0.0.1",
        "--tensor-parallel-size": "2", "--pipeline-parallel-size": "2",
        "--gpu-memory-utilization": "0.85", "--max-model-len": "8192", "--max-num-seqs": "64",
        "--dtype": "bfloat16", "--quantization": "awq", "--kv-cache-dtype": "fp8",
        "--distributed-executor-backend": "ray",
    }  # fmt: skip
    assert {name: flag(args, name) for name in expected} == expected
    assert "--no-enable-prefix-caching" in args and "--trust-remote-code" in args
    plain = serve_args("m/n", "n", VllmOptions(), "127.0.0.1", 1)
    for left_to_vllm in (
        "--max-model-len",
        "--quantization",
        "--max-num-seqs",
        "--data-parallel-size",
    ):
        assert left_to_vllm not in plain
    assert not any("prefix-caching" in a for a in plain)


def test_secrets_stay_off_the_command_line(
    engine: VllmEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VllmEngine, "executable", lambda self: ["/opt/venv/bin/vllm"])
    options = VllmOptions(engine_api_key="s3cret", gpus="1,3", ray_address="10.0.0.1:6379")
    spec = engine.launch_spec(located(engine, "qwen2.5-7b-instruct"), "qwen", options, 8100)
    assert "s3cret" not in " ".join(spec.argv)
    assert spec.env["VLLM_API_KEY"] == "s3cret"
    assert spec.upstream_headers == {"Authorization": "Bearer s3cret"}
    assert spec.env["CUDA_VISIBLE_DEVICES"] == "1,3" and spec.env["RAY_ADDRESS"] == "10.0.0.1:6379"
    assert flag(list(spec.argv), "--distributed-executor-backend") == "ray"
    assert (spec.health_path, spec.models_path, spec.runtime) == ("/health", "/v1/models", "vllm")
    assert spec.context_limit == 32768, "the catalog's context when max_model_len is unset"
    assert "**" in str(options.model_dump(mode="json")["engine_api_key"])
    assert with_access_key(spec, "ours") == spec, "the user's own key is kept"
    unkeyed = engine.launch_spec(located(engine, "qwen2.5-7b-instruct"), "qwen", VllmOptions(), 1)
    keyed = with_access_key(unkeyed, "ours")
    assert keyed.env["VLLM_API_KEY"] == "ours" and "ours" not in " ".join(keyed.argv)
    assert keyed.upstream_headers == {"Authorization": "Bearer ours"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gpu_memory_utilization": 1.5}, "less than or equal to 1"),
        ({"gpu_memory_utilization": 0}, "greater than 0"),
        ({"tensor_parallel_size": 0}, "at least 1"),
        ({"quantization": "int3"}, "awq"),
        ({"quantization": "marlin"}, "awq"),  # gone from vLLM's --quantization (0.33)
        ({"data_parallel_size": 0}, "greater than or equal to 1"),
        ({"ray_address": "h:6379", "distributed_executor_backend": "mp"}, "ray"),
        ({"max_model_len": 8}, "greater than or equal to 16"),
        ({"ctx_size": 4096}, "Extra inputs are not permitted"),
        ({"gpus": "0;1"}, "pattern"),
    ],
)
def test_option_validation(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VllmOptions.model_validate(values)


def test_no_gpu_is_refused_with_the_way_out(engine: VllmEngine) -> None:
    with pytest.raises(EngineUnavailableError, match=r"CUDA.*ROCm.*llama\.cpp"):
        engine.fit(located(engine, "qwen2.5-7b-instruct"), VllmOptions(), machine())


def test_the_budget_is_the_reservation_not_the_model(engine: VllmEngine) -> None:
    """A100 80 GB, recorded with 57.3 GiB free: vLLM reserves 0.9 x 80 GiB = 72 GiB, more
    than is free, so the default utilization is refused; 0.7 fits and holds 56 GiB."""
    a100 = machine("process_a100")
    model = located(engine, "qwen2.5-7b-instruct")
    refused = engine.fit(model, VllmOptions(), a100)
    assert refused.reserved_bytes == int(0.9 * 80 * GIB)
    assert "lower --gpu-memory-utilization to 0.71" in (refused.refusal() or "")
    fits = engine.fit(model, VllmOptions(gpu_memory_utilization=0.7, max_model_len=8192), a100)
    assert fits.refusal() is None and fits.reserved_bytes == int(0.7 * 80 * GIB)
    weights = 7.62e9 * 2  # parameters x bf16
    assert fits.weights_bytes == pytest.approx(weights, rel=0.01)
    kv_per_token = 2 * 28 * 4 * 128 * 2  # K and V x layers x kv heads x head dim x bf16
    assert fits.kv_bytes_per_token == kv_per_token
    left = fits.reserved_per_gpu - RUNTIME_ALLOWANCE_BYTES - fits.weights_bytes
    assert fits.kv_cache_tokens == left // kv_per_token
    plan = engine.memory_plan(model, VllmOptions(gpu_memory_utilization=0.7), None, a100)  # type: ignore[arg-type]
    assert plan.bytes == fits.reserved_bytes and "up front" in plan.basis


def test_a_model_larger_than_the_reservation_is_refused_with_fixes(engine: VllmEngine) -> None:
    a100 = machine("process_a100")
    big = engine.fit(
        located(engine, "llama-3.3-70b-instruct"), VllmOptions(gpu_memory_utilization=0.7), a100
    )
    refusal = big.refusal() or ""
    assert "per GPU" in refusal and "--tensor-parallel-size" in refusal and "awq" in refusal
    with pytest.raises(UnsupportedOptionError, match="--ray-address"):
        engine.fit(None, VllmOptions(tensor_parallel_size=2), a100)
    across_nodes = VllmOptions(tensor_parallel_size=8, ray_address="head:6379")
    assert engine.fit(None, across_nodes, a100).share.count == 1, "only this node's GPU counts here"


def test_tensor_parallel_auto_uses_every_pinned_gpu(engine: VllmEngine) -> None:
    two = machine("two_gpus_h100_rtx4060ti")
    assert engine.finalize(VllmOptions(tensor_parallel_size="auto"), two).tensor_parallel_size == 2
    pinned = VllmOptions(tensor_parallel_size="auto", gpus="0")
    assert engine.finalize(pinned, two).tensor_parallel_size == 1
    share = engine.fit(None, VllmOptions(tensor_parallel_size=2), two).share
    assert share.count == 2 and share.total_bytes < 17 * GIB, "ranks are sized by the smaller GPU"


def test_quantization_needs_a_gpu_that_runs_it() -> None:
    gtx = machine("power_unsupported_gtx1050ti")
    with pytest.raises(EngineUnavailableError, match="compute capability 7"):
        VllmEngine().fit(None, VllmOptions(), gtx)
    (rtx,) = [g for g in machine("two_gpus_h100_rtx4060ti").gpus if "4060" in g.name]
    check_quantization("fp8", [rtx])  # Ada: 8.9
    old = dataclasses.replace(rtx, compute_capability="7.0")
    with pytest.raises(UnsupportedOptionError, match=r"awq.*7\.5.*has 7"):
        check_quantization("awq", [old])
    amd = dataclasses.replace(rtx, vendor="AMD", compute_capability=None)
    with pytest.raises(UnsupportedOptionError, match="AMD"):
        check_quantization("gptq", [amd])


def test_recorded_metrics_map_to_hostbench_names() -> None:
    text = (FIXTURE / "metrics_qwen2.5-coder-1.5b.txt").read_text()
    assert engine_metrics(text) == {
        "kv_cache_usage_ratio": 0.0,
        "requests_running": 0.0,
        "requests_waiting": 0.0,
        "preemptions": 0.0,
        "prompt_tokens": 148.0,
        "generation_tokens": 955.0,
        "requests_finished": 4.0,
    }
    assert kv_cache_capacity_tokens(text) == 81767 * 16
    report = memory_report(text, reserved_bytes=int(0.9 * 80 * GIB))
    assert report["kv_cache_used_tokens"] == 0 and report["reserved_bytes"] == int(0.9 * 80 * GIB)


def test_the_renamed_kv_gauge_is_read_too() -> None:
    """vLLM PR #18354 replaced gpu_cache_usage_perc with kv_cache_usage_perc (a ratio);
    data-parallel engines publish one sample each, averaged."""
    text = (
        'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25\n'
        'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75\n'
        'vllm:cache_config_info{block_size="16",num_gpu_blocks="1000"} 1.0\n'
    )
    report = memory_report(text, None)
    assert report["kv_cache_usage_ratio"] == 0.5 and report["kv_cache_used_tokens"] == 8000


def test_a_line_the_parser_rejects_costs_only_that_line() -> None:
    """An engine's partial write or a stray line must not hide the other figures."""
    text = (
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{engine="0",model_name="m"} 3.0\n'
        "this is not exposition text\n"
        'vllm:num_requests_waiting{engine="0",model_name="m"} 2.0\n'
        'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5\n'
    )
    figures = engine_metrics(text)
    assert figures == {
        "requests_running": 3.0,
        "requests_waiting": 2.0,
        "kv_cache_usage_ratio": 0.5,
    }
    assert engine_metrics("<html><body>not metrics</body></html>") == {}
    assert memory_report("", None)["kv_cache_capacity_tokens"] is None


def test_data_parallel_engines_add_up_their_kv_caches() -> None:
    """vLLM publishes `vllm:cache_config_info` once per data-parallel engine (label
    `engine`), each with that engine's blocks."""
    text = "".join(
        f'vllm:cache_config_info{{block_size="16",engine="{i}",num_gpu_blocks="1000"}} 1.0\n'
        f'vllm:kv_cache_usage_perc{{engine="{i}",model_name="m"}} {ratio}\n'
        for i, ratio in ((0, 0.5), (1, 1.0))
    )
    report = memory_report(text, None)
    assert report["kv_cache_capacity_tokens"] == 32000
    assert report["kv_cache_used_tokens"] == 24000
