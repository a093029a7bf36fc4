"""The memory arithmetic: KV cache at exact ggml block sizes, compute buffers, and the
per-layer split against recorded GPU readings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from catalog import load_catalog
from catalog.fit import (
    FitOptions,
    MiB,
    compute_bytes_gpu,
    estimate_cpu,
    kv_bytes,
    kv_bytes_per_cell,
    layer_kv_bytes,
)
from catalog.gguf_info import read_gguf_info
from catalog.model_shape import count_swa_layers, shape_from_catalog, shape_from_gguf
from catalog.placement import (
    CUDA_RUNTIME_BYTES,
    Devices,
    Verdict,
    fit,
    largest_context,
    place,
)
from tests.gguf_files import TinyModel, write_tiny_gguf
from tests.unit.catalog.conftest import GIB, machine, smollm2


@pytest.mark.parametrize(
    ("kind", "mib"),
    [("f16", 11.25), ("q8_0", 5.9765625), ("q4_0", 3.1640625)],
)
def test_kv_cache_matches_what_llama_cpp_allocates(kind: str, mib: float) -> None:
    """llama.cpp 0.3.36 logged, for the default model at n_ctx 512: 11.25 MiB (f16),
    5.98 MiB (q8_0) and 3.16 MiB (q4_0) (`llama_kv_cache: size = ...`)."""
    options = FitOptions(n_ctx=512, type_k=kind, type_v=kind)
    assert kv_bytes(smollm2(), options) == mib * MiB


def test_kv_row_sizes_use_ggml_blocks() -> None:
    shape = smollm2()
    row = shape.n_kv_heads * shape.head_dim_k  # 192 values per token per layer
    assert kv_bytes_per_cell(shape, FitOptions(type_k="f16", type_v="f16")) == 2 * row * 2
    assert kv_bytes_per_cell(shape, FitOptions(type_k="q8_0", type_v="q8_0")) == 2 * 6 * 34
    assert kv_bytes_per_cell(shape, FitOptions(type_k="q4_0", type_v="q4_0")) == 2 * 6 * 18


def test_kv_grows_with_slots_and_pads_to_256() -> None:
    shape = smollm2()
    one = kv_bytes(shape, FitOptions(n_ctx=1000))
    assert one == kv_bytes(shape, FitOptions(n_ctx=1024))
    assert kv_bytes(shape, FitOptions(n_ctx=1024, n_parallel=4)) == 4 * one


def test_sliding_window_layers_keep_window_plus_batch() -> None:
    assert count_swa_layers(12, 6) == 10 and count_swa_layers(24, 2) == 12
    shape = dataclasses.replace(smollm2(), sliding_window=512, n_swa_layers=25)
    options = FitOptions(n_ctx=8192)
    layers = layer_kv_bytes(shape, options)
    per_cell = kv_bytes_per_cell(shape, options)
    assert sorted(set(layers)) == [1024 * per_cell, 8192 * per_cell]
    assert layers.count(1024 * per_cell) == 25


def test_gpu_compute_reserves_logits_of_a_full_micro_batch() -> None:
    """llama.cpp logged a 98.25 MiB CPU compute buffer at n_ctx 512 (logits 96 MiB)."""
    reserved = compute_bytes_gpu(smollm2(), FitOptions(n_ctx=512)) / MiB
    assert 98.25 <= reserved <= 98.25 * 1.1


def test_estimate_from_a_real_header(tmp_path: Path) -> None:
    m = TinyModel(weight_type="Q8_0")
    path = write_tiny_gguf(tmp_path / "m.gguf", m)
    shape = shape_from_gguf(read_gguf_info(path), "tiny", path.stat().st_size)
    assert sum(shape.layer_bytes) + shape.input_bytes + shape.output_bytes + shape.other_bytes == (
        read_gguf_info(path).weights_bytes
    )
    estimate = estimate_cpu(shape, FitOptions(n_ctx=2048))
    assert estimate.weights_bytes == path.stat().st_size
    assert estimate.kv_bytes == 4 * 2048 * 2 * (2 * 32) * 2


def test_no_gpu_means_cpu_and_a_small_ram_means_no_fit() -> None:
    shape = smollm2()
    roomy = fit(shape, FitOptions(n_ctx=8192), Devices.from_snapshot(machine()))
    assert roomy.verdict is Verdict.CPU and roomy.n_gpu_layers == 0
    tight = Devices.from_snapshot(machine(ram_gib=1.2))
    assert fit(shape, FitOptions(n_ctx=8192), tight).verdict is Verdict.NO_FIT
    largest = largest_context(shape, FitOptions(), tight)
    assert largest is not None and 512 <= largest < 8192
    assert fit(shape, FitOptions(n_ctx=largest), tight).verdict is Verdict.CPU
    assert fit(shape, FitOptions(n_ctx=largest + 256), tight).verdict is Verdict.NO_FIT


def test_full_offload_on_a_recorded_rtx_5090() -> None:
    devices = Devices.from_snapshot(machine("one_gpu_rtx5090"))
    shape = shape_from_catalog(load_catalog().get("qwen3-8b"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=32768), devices)
    assert report.verdict is Verdict.FULL_GPU
    assert report.n_gpu_layers == shape.n_layers + 1
    (gpu,) = report.placement.gpus
    assert gpu.layers == shape.n_layers + 1 and gpu.fits


H100_MEASURED_MIB = {(1, True): 892, (8, True): 2152, (1, False): 1176}
"""The driver's per-process VRAM of llama-server (CUDA build) serving the default model with
every layer offloaded, 8192 tokens per slot, after a 6,000-token prompt; (slots, flash
attention) -> MiB. Measured on the lent H100 80GB HBM3 on 2026-11-28 (docs/benchmarks.md,
"GPU fit"); with `--n-gpu-layers 0` the same server took 540 MiB."""


@pytest.mark.parametrize(
    ("slots", "flash_attn", "tolerance"),
    [(1, True, 0.10), (8, True, 0.10), (1, False, 0.20)],
)
def test_full_gpu_need_against_the_measured_h100(
    slots: int, flash_attn: bool, tolerance: float
) -> None:
    """Within 3 % with flash attention (the launch default); without it the compute buffer
    is under-estimated (by 16.5 %), hence the wider bound there."""
    devices = Devices.from_snapshot(machine("one_gpu_h100_recorded"))
    options = FitOptions(n_ctx=8192, n_parallel=slots, flash_attn=flash_attn)
    report = fit(smollm2(), options, devices)
    assert report.verdict is Verdict.FULL_GPU
    (gpu,) = report.placement.gpus
    measured = H100_MEASURED_MIB[(slots, flash_attn)] * MiB
    assert abs(gpu.need_bytes / measured - 1) <= tolerance


def test_the_cuda_runtime_is_counted_once_per_gpu_used() -> None:
    devices = Devices.from_snapshot(machine("one_gpu_h100_recorded"))
    assert devices.gpus[0].runtime_bytes == CUDA_RUNTIME_BYTES
    bare = Devices(devices.ram, (dataclasses.replace(devices.gpus[0], runtime_bytes=0),))
    options = FitOptions(n_ctx=8192)
    with_runtime = place(smollm2(), options, devices, 31).gpus[0].need_bytes
    assert with_runtime - place(smollm2(), options, bare, 31).gpus[0].need_bytes == (
        CUDA_RUNTIME_BYTES
    )
    assert place(smollm2(), options, devices, 0).gpus == ()


def test_partial_offload_splits_by_layer() -> None:
    devices = Devices.from_snapshot(machine("one_gpu_rtx5090"))
    shape = shape_from_catalog(load_catalog().get("llama-3.3-70b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), devices, None)
    assert report.verdict is Verdict.PARTIAL
    layers = report.n_gpu_layers
    assert 0 < layers < shape.n_layers
    one_more = place(shape, FitOptions(n_ctx=8192), devices, layers + 1)
    assert not one_more.gpus[0].fits
    assert one_more.gpus[0].need_bytes > devices.gpus[0].usable_bytes


def test_two_gpus_share_the_layers() -> None:
    devices = Devices.from_snapshot(machine("two_gpus_h100_rtx4060ti"))
    assert [d.name.split(" (")[0] for d in devices.gpus] == ["gpu0", "gpu1"]
    shape = shape_from_catalog(load_catalog().get("llama-3.3-70b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), devices)
    assert report.verdict is Verdict.FULL_GPU
    big = dataclasses.replace(shape, layer_bytes=tuple(b * 2 for b in shape.layer_bytes))
    split = fit(big, FitOptions(n_ctx=8192), devices)
    assert [use.layers > 0 for use in split.placement.gpus] == [True, True]


def test_an_explicit_offload_that_does_not_fit_is_reported() -> None:
    devices = Devices.from_snapshot(machine("power_unsupported_gtx1050ti"))
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"), "Q8_0")
    report = fit(shape, FitOptions(), devices, n_gpu_layers=33)
    assert report.verdict is Verdict.NO_FIT
    assert "does not fit: gpu0" in report.reasons[-1]
    assert fit(shape, FitOptions(), devices).verdict is Verdict.PARTIAL


def test_largest_context_is_the_boundary() -> None:
    devices = Devices.from_snapshot(machine("one_gpu_rtx5090"))
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"), "Q8_0")
    largest = largest_context(shape, FitOptions(), devices, Verdict.FULL_GPU)
    assert largest is not None and largest % 256 == 0
    assert fit(shape, FitOptions(n_ctx=largest), devices).verdict is Verdict.FULL_GPU
    over = fit(shape, FitOptions(n_ctx=largest + 256), devices).verdict
    assert over is not Verdict.FULL_GPU


def test_quantized_kv_buys_context() -> None:
    devices = Devices.from_snapshot(machine("one_gpu_rtx5090"))
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"), "Q8_0")
    f16 = largest_context(shape, FitOptions(), devices, Verdict.FULL_GPU) or 0
    q8 = FitOptions(type_k="q8_0", type_v="q8_0", flash_attn=True)
    assert (largest_context(shape, q8, devices, Verdict.FULL_GPU) or 0) > f16


def test_ram_margin_is_kept_free() -> None:
    shape = smollm2()
    need = estimate_cpu(shape, FitOptions(n_ctx=512)).total_bytes
    just_short = machine(ram_gib=(need + GIB) / GIB - 0.001)
    assert (
        fit(shape, FitOptions(n_ctx=512), Devices.from_snapshot(just_short)).verdict
        is Verdict.NO_FIT
    )
