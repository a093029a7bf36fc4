"""A vLLM run gets its decode bound from the checkpoint it serves, and a run without a
bound says why: the device's bandwidth is always known, so "bandwidth unknown" never is.

The checkpoint is Qwen3-0.6B's published layout (tests/unit/catalog/hf_checkpoints.py);
the GPU is a recorded NVML reading of an RTX 5090 (tests/fixtures/nvml)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.cli.commands.bench_runs import decode_line
from bench.metrics import compute_metrics
from catalog import LocalModels
from control.api import EngineStatus
from hardware import MachineReader, MachineSnapshot
from profiles import CostDefaults
from storage import Store
from tests.unit.bench.test_runs import make_run
from tests.unit.catalog.hf_checkpoints import write_checkpoint
from tests.unit.hardware.conftest import replay_backend
from workflows.bench_context import engine_context, limit_inputs, model_reads

QWEN3_06B_BF16_BYTES = 596_049_920 * 2
"""Its published parameter count (keras-hub), tied embeddings: every weight is read."""


def vllm_status(model_path: str, **options: Any) -> EngineStatus:
    defaults = {"dtype": "auto", "kv_cache_dtype": "auto", "max_num_seqs": None}
    return EngineStatus(
        name="qwen", engine="vllm", runtime="vllm", model="qwen3-0.6b", model_path=model_path,
        state="ready", options={**defaults, **options},
    )  # fmt: skip


def gpu_machine() -> MachineSnapshot:
    reader = MachineReader(backends=[replay_backend("one_gpu_rtx5090")])
    try:
        return reader.read()
    finally:
        reader.close()


def test_a_vllm_run_is_bounded_by_its_checkpoint_on_the_gpu(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "Qwen3-0.6B", "qwen3-0.6b")
    snapshot = gpu_machine()
    status = vllm_status(str(directory), max_num_seqs=64)
    inputs = limit_inputs(status, snapshot, CostDefaults(ram_bandwidth_gbps=10.0))
    assert inputs is not None
    assert inputs.weights_bytes == QWEN3_06B_BF16_BYTES
    assert inputs.kv_bytes_per_token == 28 * 8 * (128 + 128) * 2
    assert inputs.bandwidth.gbps == snapshot.gpus[0].facts.memory_bandwidth_gbps  # type: ignore[union-attr]
    assert inputs.max_batch == 64
    fp8 = limit_inputs(vllm_status(str(directory), kv_cache_dtype="fp8"), snapshot, CostDefaults())
    assert fp8 is not None and fp8.kv_bytes_per_token == inputs.kv_bytes_per_token // 2


def test_tensor_parallel_adds_the_gpus_bandwidths(tmp_path: Path) -> None:
    """Two GPUs each read half of every layer at once; pipeline parallel (stages one after
    the other) and llama.cpp's layer split do not add bandwidth."""
    directory = write_checkpoint(tmp_path / "Qwen3-0.6B", "qwen3-0.6b")
    snapshot, cost = gpu_machine(), CostDefaults()
    one = limit_inputs(vllm_status(str(directory)), snapshot, cost)
    two = limit_inputs(vllm_status(str(directory), tensor_parallel_size=2), snapshot, cost)
    assert one is not None and two is not None
    assert two.bandwidth.gbps == 2 * one.bandwidth.gbps
    assert two.bandwidth.source.startswith("2 x ") and "tensor parallel" in two.bandwidth.source
    staged = vllm_status(str(directory), tensor_parallel_size=1, pipeline_parallel_size=2)
    assert limit_inputs(staged, snapshot, cost).bandwidth == one.bandwidth  # type: ignore[union-attr]


def test_an_unreadable_model_is_the_stated_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty hub cache
    status = vllm_status("Qwen/Not-Downloaded")
    assert limit_inputs(status, gpu_machine(), CostDefaults(ram_bandwidth_gbps=10.0)) is None
    engine = engine_context(status, LocalModels(Store(tmp_path / "s.sqlite")), "vllm 0.x")
    assert engine["decode_reads"]["known"] is False
    run = replace(make_run(), decode_limit=None, context={"engine": engine})
    line = decode_line(run)
    assert "no bound: the model's layout could not be read" in line
    assert "Qwen/Not-Downloaded" in line and "bandwidth" not in line


def test_a_readable_model_records_where_its_figures_come_from(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "m", "qwen3-0.6b")
    found = model_reads(vllm_status(str(directory)))
    assert found.reads is not None and found.as_dict()["known"] is True
    assert "safetensors" in found.basis


def test_other_causes_of_a_missing_bound() -> None:
    endpoint = replace(make_run(), decode_limit=None, context={"engine": None})
    assert "outside endpoint" in decode_line(endpoint)
    known: dict[str, Any] = {"decode_reads": {"known": True, "basis": "GGUF header"}}
    failed = compute_metrics(make_run().samples[2:], 1.0)  # only the failed request
    unanswered = replace(make_run(), decode_limit=None, context={"engine": known}, metrics=failed)
    assert "no request completed" in decode_line(unanswered)
    legacy = replace(make_run(), decode_limit=None)  # stored before the cause was recorded
    assert "the model's layout could not be read" in decode_line(legacy)
