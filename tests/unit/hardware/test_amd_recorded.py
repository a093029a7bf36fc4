"""AMD GPUs through amdsmi's own Python API shape (a stand-in module answering from real
pasted amd-smi / rocm-smi readings, tests/fixtures/amd), ROCm's device-selection variables,
and the fit on those cards. No AMD GPU ran these tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

import hardware
from catalog import load_catalog
from catalog.fit import FitOptions
from catalog.model_shape import shape_from_catalog
from catalog.placement import Devices, Verdict, fit
from hardware.amd import AmdBackend, AmdsmiLibrary, visible_devices
from tests.unit.hardware.amdsmi_replay import from_amd_smi_metric, from_rocm_smi, recorded_amdsmi
from tests.unit.hardware.conftest import FIXTURES


def reading(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "amd" / f"{name}.json").read_text("utf-8"))


def rocm_smi_devices(name: str) -> list[dict[str, Any]]:
    data = reading(name)
    return [from_rocm_smi(card, data.get("market_name")) for card in data["rocm_smi"].values()]


def backend(devices: list[dict[str, Any]], env: dict[str, str] | None = None) -> AmdBackend:
    module = recorded_amdsmi(devices)
    return AmdBackend(api_factory=lambda: AmdsmiLibrary(module), env=env or {})


def test_amd_smi_usage_reading() -> None:
    """The W7700's gfx 42 % and memory controller 1 %, through AmdsmiLibrary's parsing."""
    devices = [from_amd_smi_metric(gpu) for gpu in reading("w7700_amd_smi_metric_usage")["amd_smi"]]
    (gpu,) = hardware.discover(backends=[backend(devices)]).gpus
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (42, 1)
    assert gpu.name == "AMD GPU 0" and gpu.memory_total_bytes is None  # not in the reading


def test_rx_7900_xt_reading_and_a_missing_memory_activity() -> None:
    """Memory-controller activity is "N/A" on this card: the graphics activity still shows
    (it was dropped with it before)."""
    (gpu,) = hardware.discover(backends=[backend(rocm_smi_devices("rx7900xt_rocm_smi"))]).gpus
    assert gpu.name == "Radeon RX 7900 XT"
    assert (gpu.memory_total_bytes, gpu.memory_used_bytes) == (21458059264, 27856896)
    assert gpu.memory_free_bytes == 21458059264 - 27856896
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (0, None)
    assert gpu.power_draw_w is None and gpu.processes is None


def test_a_model_on_the_recorded_rx_7900_xt() -> None:
    snapshot = hardware.discover(backends=[backend(rocm_smi_devices("rx7900xt_rocm_smi"))])
    devices = Devices.from_snapshot(snapshot)
    (gpu,) = devices.gpus
    assert gpu.runtime_bytes == 0  # the ROCm runtime's own VRAM is unmeasured
    shape = shape_from_catalog(load_catalog().get("qwen3-14b"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=8192), devices)
    assert report.verdict is Verdict.FULL_GPU


@pytest.mark.parametrize(
    ("env", "indices"),
    [
        ({}, [0, 1]),
        ({"ROCR_VISIBLE_DEVICES": "1"}, [1]),
        ({"HIP_VISIBLE_DEVICES": "1"}, [1]),
        ({"ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "0"}, [1]),
        ({"CUDA_VISIBLE_DEVICES": "1"}, [1]),
        ({"CUDA_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "0"}, [0]),
        ({"HIP_VISIBLE_DEVICES": ""}, []),
        ({"ROCR_VISIBLE_DEVICES": "1,7,0"}, [1]),
    ],
)
def test_rocm_visibility_variables_choose_the_gpus(env: dict[str, str], indices: list[int]) -> None:
    b = backend(rocm_smi_devices("two_rx6800_rocm_smi"), env)
    status = b.open()
    found = b.read()
    assert [g.index for g in found] == indices
    assert [g.memory_used_bytes for g in found] == [[17453056, 17457152][i] for i in indices]
    assert status.device_count == len(indices)
    assert (status.reason is None) == (not env)


def test_visibility_note_names_the_variable() -> None:
    assert visible_devices(4, {"ROCR_VISIBLE_DEVICES": "2,3", "HIP_VISIBLE_DEVICES": "1"}) == (
        [3],
        "ROCR_VISIBLE_DEVICES=2,3, HIP_VISIBLE_DEVICES=1: 1 of 4 GPU(s) visible",
    )


def test_two_recorded_rx_6800_share_a_model() -> None:
    snapshot = hardware.discover(backends=[backend(rocm_smi_devices("two_rx6800_rocm_smi"))])
    shape = shape_from_catalog(load_catalog().get("qwen2.5-32b-instruct"), "Q4_K_M")
    report = fit(shape, FitOptions(n_ctx=4096, flash_attn=True), Devices.from_snapshot(snapshot))
    assert report.verdict is Verdict.FULL_GPU
    assert [use.layers for use in report.placement.gpus] == [33, 32]
