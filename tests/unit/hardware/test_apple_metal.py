"""Apple silicon with Metal: the GPU's share of unified memory, as macOS sets it, drives the
fit, the offload and the profile. Replayed from recorded Mac descriptions
(tests/fixtures/apple, each with its source); no Mac ran these tests."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import hardware
from catalog import load_catalog
from catalog.fit import FitOptions
from catalog.model_shape import shape_from_catalog
from catalog.placement import Devices, Verdict, fit, largest_context
from engines.llamacpp.adapter import LlamaCppOptions
from hardware.apple import MIB, AppleBackend, metal_budget, parse_system_profiler
from profiles.library import ProfileLibrary
from profiles.resolver import resolve_options
from tests.unit.hardware.conftest import FIXTURES

GIB = 1 << 30


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "apple" / f"{name}.json").read_text("utf-8"))


def backend(reading: dict[str, Any]) -> AppleBackend:
    return AppleBackend(
        sysctl=reading["sysctl"].get,
        is_apple_silicon=lambda: True,
        system_profiler=lambda: reading["system_profiler"],
    )


def mac(name: str, ram_available_gib: float) -> hardware.MachineSnapshot:
    """This machine's CPU reading with the recorded Mac's GPU; the RAM available is set, as
    the recordings do not say how much was free."""
    snapshot = hardware.discover(backends=[backend(recorded(name))])
    memory = dataclasses.replace(snapshot.memory, ram_available_bytes=int(ram_available_gib * GIB))
    return dataclasses.replace(snapshot, memory=memory)


@pytest.mark.parametrize(
    ("ram_gib", "logged_mib", "source"),
    [
        (16, 10922.67, "https://github.com/abetlen/llama-cpp-python/issues/687 (M1 16 GB)"),
        (32, 21845.34, "https://github.com/ollama/ollama/issues/434 (M2 Max 32 GB)"),
        (64, 49152.00, "https://github.com/ggml-org/llama.cpp/issues/1870 (M1 Max 64 GB)"),
    ],
)
def test_default_budget_matches_what_llama_cpp_logged(
    ram_gib: int, logged_mib: float, source: str
) -> None:
    """recommendedMaxWorkingSetSize as llama.cpp printed it on real Macs (`source`)."""
    budget, basis = metal_budget(ram_gib * GIB, None)
    assert abs(budget / MIB - logged_mib) < 0.01, source
    assert basis.startswith("macOS default")


def test_a_raised_wired_limit_is_the_budget() -> None:
    reading = recorded("m1_max_32gb_wired_limit")
    b = backend(reading)
    assert b.open().available
    (gpu,) = b.read()
    assert gpu.name == "Apple M1 Max" and gpu.unified_memory
    assert gpu.gpu_budget_bytes == reading["expected_budget_mib"] * MIB
    assert gpu.gpu_budget_basis == "iogpu.wired_limit_mb = 26000"


def test_system_profiler_alone_describes_the_mac() -> None:
    reading = recorded("m2_pro_32gb_system_profiler")
    profile = parse_system_profiler(reading["system_profiler"])
    assert (profile.chip, profile.memory_bytes, profile.gpu_cores) == (
        "Apple M2 Pro",
        32 * GIB,
        19,
    )
    b = backend(reading)
    assert b.open().available
    (gpu,) = b.read()
    assert (gpu.name, gpu.memory_total_bytes, gpu.gpu_cores) == ("Apple M2 Pro", 32 * GIB, 19)
    assert abs(gpu.gpu_budget_bytes / MIB - reading["expected_budget_mib"]) < 0.01


def test_an_8b_model_goes_fully_on_metal() -> None:
    """Before: a Mac counted as CPU only (n_gpu_layers 0), whatever its Metal build."""
    devices = Devices.from_snapshot(mac("m2_pro_32gb_system_profiler", 28))
    (gpu,) = devices.gpus
    assert gpu.unified and gpu.free_bytes == int(32 * GIB * 2 / 3)
    shape = shape_from_catalog(load_catalog().get("qwen3-8b"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), devices)
    assert report.verdict is Verdict.FULL_GPU
    assert report.n_gpu_layers == shape.n_layers + 1
    ram = report.placement.ram
    assert ram.need_bytes > report.placement.gpu_bytes, "what the GPU holds is RAM too"


def test_the_budget_not_the_ram_bounds_the_offload() -> None:
    """A 32B model at Q5 needs more than the 21.3 GiB Metal budget of a 32 GB Mac: partial
    offload, though the whole would fit the RAM; raising iogpu.wired_limit_mb changes that."""
    shape = shape_from_catalog(load_catalog().get("qwen2.5-32b-instruct"), "Q5_K_M")
    default = Devices.from_snapshot(mac("m2_pro_32gb_system_profiler", 30))
    assert fit(shape, FitOptions(n_ctx=4096), default).verdict is Verdict.PARTIAL
    raised = Devices.from_snapshot(mac("m1_max_32gb_wired_limit", 30))
    full = largest_context(shape, FitOptions(), raised, Verdict.FULL_GPU)
    assert full is not None and full >= 4096
    assert (largest_context(shape, FitOptions(), default, Verdict.FULL_GPU) or 0) < full


def test_a_mac_gets_a_gpu_profile_and_full_offload() -> None:
    snapshot = mac("m2_pro_32gb_system_profiler", 28)
    profile = ProfileLibrary.load().resolve(None, snapshot)
    assert profile.name == "gpu-24gb"
    shape = shape_from_catalog(load_catalog().get("qwen3-8b"), "Q4_K_M")
    resolution = resolve_options(
        shape,
        snapshot,
        profile,
        {},
        LlamaCppOptions().model_dump(),
        keys=LlamaCppOptions.estimate_keys,
    )
    assert resolution.options["n_gpu_layers"] == shape.n_layers + 1
    assert resolution.reasons["n_gpu_layers"].text.startswith(f"{shape.n_layers + 1} of ")
    assert any(
        "may use 21.3 GiB (macOS default, two-thirds of 32 GiB)" in n for n in resolution.notes
    )


def test_gpus_command_shows_the_gpu_share() -> None:
    from app.cli.commands.gpus import gpu_row

    (gpu,) = mac("m2_pro_32gb_system_profiler", 28).gpus
    row = gpu_row(gpu)
    assert row["memory"] == "32.0 GiB unified, GPU 21.3 GiB"
    assert row["details"].startswith("19 GPU cores, macOS default, two-thirds of 32 GiB")
    again = hardware.snapshot_from_dict(
        hardware.snapshot_to_dict(mac("m1_max_32gb_wired_limit", 28))
    )
    assert again.gpus[0].gpu_budget_bytes == 26000 * MIB
