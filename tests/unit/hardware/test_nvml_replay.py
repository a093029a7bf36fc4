"""The NVML path, fed by recorded real readings (tests/fixtures/nvml, each citing its source)."""

from __future__ import annotations

import json

import pynvml
import pytest

import hardware
from hardware.nvml import NvidiaBackend, PynvmlApi
from hardware.nvml_replay import RecordedNvml, nvml_error, nvml_error_name, record_nvml
from tests.unit.hardware.conftest import NVML_FIXTURES, replay_backend

MiB = 1024 * 1024


def _discover(name: str) -> hardware.MachineSnapshot:
    return hardware.discover(backends=[replay_backend(name)])


@pytest.mark.parametrize("path", sorted(NVML_FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_cites_its_source(path) -> None:
    data = json.loads(path.read_text())
    assert data["source"].strip()
    assert "http" in data["source"] or "measured" in data["source"]


def test_one_gpu() -> None:
    snapshot = _discover("one_gpu_rtx5090")
    (gpu,) = snapshot.gpus
    assert gpu.vendor == "NVIDIA"
    assert gpu.index == 0
    assert gpu.name == "NVIDIA GeForce RTX 5090"
    assert gpu.uuid == "GPU-ea2294a3-4d61-1757-8aed-f91723f16ad2"
    assert gpu.memory_total_bytes == 32607 * MiB
    assert gpu.memory_used_bytes == 2 * MiB
    assert gpu.memory_free_bytes == 32119 * MiB
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (0, 0)
    assert gpu.temperature_c == 25
    assert gpu.power_draw_w == pytest.approx(24.05)
    assert gpu.power_limit_w == pytest.approx(575.0)
    assert (gpu.sm_clock_mhz, gpu.memory_clock_mhz) == (22, 405)
    assert (gpu.pcie_generation, gpu.pcie_width) == (1, 8)
    assert gpu.compute_capability == "12.0"
    assert gpu.driver_version == "570.124.06"
    assert gpu.cuda_driver_version == "12.8"
    assert gpu.processes == ()
    assert gpu.energy_total_mj is None  # nvidia-smi -q does not print the counter
    assert gpu.facts is not None
    assert gpu.facts.memory_bandwidth_gbps == 1792
    assert snapshot.gpu_absence_reason is None
    (status,) = snapshot.backends
    assert (status.name, status.available, status.device_count) == ("NVML", True, 1)


def test_a_reading_recorded_by_hostbench_on_a_real_h100() -> None:
    """Recorded with `python -m hardware.nvml_replay` on the lent H100 machine, 2026-11-28."""
    (gpu,) = _discover("one_gpu_h100_recorded").gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.memory_total_bytes == 81559 * MiB
    assert gpu.memory_used_bytes == 0
    assert gpu.memory_free_bytes == 81079 * MiB  # the driver reserves 480 MiB outside "used"
    assert gpu.energy_total_mj == 3097137  # the counter nvidia-smi -q never prints
    assert gpu.power_draw_w == pytest.approx(74.562)
    assert gpu.power_limit_w == pytest.approx(700.0)
    assert (gpu.pcie_generation, gpu.pcie_width) == (5, 16)
    assert gpu.compute_capability == "9.0"
    assert (gpu.driver_version, gpu.cuda_driver_version) == ("580.159.04", "13.0")
    assert gpu.processes == ()
    assert gpu.facts is not None and gpu.facts.memory_bandwidth_gbps > 3000


def test_a_reading_recorded_by_the_gpu_check_on_a_real_h200() -> None:
    """Recorded by scripts/gpu-check on the lent H200 machine, 2026-12-04; nvidia-smi read
    143771 MiB total, 143156 MiB free, 79.42 W in the same run (docs/benchmarks.md)."""
    (gpu,) = _discover("one_gpu_h200_recorded").gpus
    assert gpu.name == "NVIDIA H200"
    assert gpu.memory_total_bytes == 143771 * MiB
    assert gpu.memory_used_bytes == 0
    assert round(gpu.memory_free_bytes / MiB) == 143156  # 615 MiB reserved outside "used"
    assert gpu.energy_total_mj == 3163079
    assert gpu.power_draw_w == pytest.approx(79.42)
    assert (gpu.pcie_generation, gpu.pcie_width, gpu.compute_capability) == (5, 16, "9.0")
    assert gpu.facts is not None and gpu.facts.memory_bandwidth_gbps == 4800


def test_two_different_gpus_each_get_their_own_facts() -> None:
    snapshot = _discover("two_gpus_h100_rtx4060ti")
    h100, rtx = snapshot.gpus
    assert (h100.index, rtx.index) == (0, 1)
    assert h100.name == "NVIDIA H100 80GB HBM3"
    assert rtx.name == "NVIDIA GeForce RTX 4060 Ti"
    assert h100.facts is not None and h100.facts.memory_bandwidth_gbps == 3350
    assert h100.facts.fp16_dense_tflops == 989
    assert rtx.facts is not None and rtx.facts.memory_bandwidth_gbps == 288
    assert (h100.pcie_generation, h100.pcie_width) == (5, 16)
    assert (rtx.pcie_generation, rtx.pcie_width) == (4, 4)
    assert h100.power_draw_w == pytest.approx(100.89)
    assert rtx.power_limit_w == pytest.approx(165.0)
    assert (h100.compute_capability, rtx.compute_capability) == ("9.0", "8.9")
    assert snapshot.backends[0].device_count == 2


def test_unsupported_power_reading_is_none_and_nothing_else_is_lost() -> None:
    (gpu,) = _discover("power_unsupported_gtx1050ti").gpus
    assert gpu.power_draw_w is None
    assert gpu.power_limit_w == pytest.approx(75.0)
    assert gpu.temperature_c == 31
    assert gpu.memory_total_bytes == 4096 * MiB
    assert gpu.facts is None  # not in the shipped table: no guess


def test_process_list_with_used_memory() -> None:
    (gpu,) = _discover("process_a100").gpus
    assert gpu.processes == (hardware.GpuProcess(pid=280058, used_memory_bytes=22374 * MiB),)
    assert gpu.memory_used_bytes == 22377 * MiB
    assert gpu.facts is not None and gpu.facts.name == "NVIDIA A100-SXM4-80GB"


@pytest.mark.parametrize(
    ("fixture", "error_class", "reason"),
    [
        (
            "init_library_not_found",
            pynvml.NVMLError_LibraryNotFound,
            "library not found (no NVIDIA driver installed)",
        ),
        (
            "init_lib_rm_version_mismatch",
            pynvml.NVMLError_LibRmVersionMismatch,
            "driver/library version mismatch",
        ),
        ("init_driver_not_loaded", pynvml.NVMLError_DriverNotLoaded, "driver not loaded"),
    ],
)
def test_init_failures_say_why_and_keep_the_cpu_path(fixture, error_class, reason) -> None:
    recorded = RecordedNvml.from_file(NVML_FIXTURES / f"{fixture}.json")
    with pytest.raises(error_class):  # the replay raises what pynvml raises
        recorded.init()
    snapshot = _discover(fixture)
    assert snapshot.gpus == ()
    (status,) = snapshot.backends
    assert status.available is False
    assert status.reason is not None and status.reason.startswith(reason)
    assert snapshot.gpu_absence_reason == f"NVML: {status.reason}"
    assert snapshot.cpu.logical_cores is not None
    assert snapshot.memory.ram_total_bytes > 0


def test_nvidia_ml_py_not_installed() -> None:
    def missing() -> PynvmlApi:
        raise ImportError("No module named 'pynvml'")

    status = NvidiaBackend(api_factory=missing).open()
    assert (status.available, status.reason) == (False, "nvidia-ml-py not installed")


def test_real_pynvml_without_a_driver_reports_library_not_found() -> None:
    """On a machine without the NVIDIA library this is the real production path."""
    backend = NvidiaBackend()
    status = backend.open()
    try:
        if status.available:
            pytest.skip("this machine has a working NVIDIA driver")
        assert status.reason == "library not found (no NVIDIA driver installed)"
        assert backend.read() == ()
    finally:
        backend.close()


def test_a_missing_key_replays_as_not_supported() -> None:
    reading = {"driver_version": "1", "cuda_driver_version": 12000, "devices": [{"name": "X"}]}
    api = RecordedNvml(reading)
    api.init()
    with pytest.raises(pynvml.NVMLError_NotSupported):
        api.temperature_c(0)
    (gpu,) = hardware.discover(backends=[NvidiaBackend(lambda: RecordedNvml(reading))]).gpus
    assert gpu.name == "X"
    assert (gpu.temperature_c, gpu.memory_total_bytes, gpu.processes) == (None, None, None)


def test_record_then_replay_round_trips() -> None:
    original = RecordedNvml.from_file(NVML_FIXTURES / "two_gpus_h100_rtx4060ti.json")
    recorded = record_nvml(original, source="round trip")
    assert recorded["devices"][0]["total_energy_mj"] == {"nvml_error": "NOT_SUPPORTED"}
    again = hardware.discover(backends=[NvidiaBackend(lambda: RecordedNvml(recorded))])
    first = hardware.discover(backends=[replay_backend("two_gpus_h100_rtx4060ti")])
    assert again.gpus == first.gpus


def test_error_names_round_trip() -> None:
    error = nvml_error("LIB_RM_VERSION_MISMATCH")
    assert isinstance(error, pynvml.NVMLError_LibRmVersionMismatch)
    assert nvml_error_name(error) == "LIB_RM_VERSION_MISMATCH"


def test_backend_closes_nvml() -> None:
    recorded = RecordedNvml.from_file(NVML_FIXTURES / "one_gpu_rtx5090.json")
    backend = NvidiaBackend(api_factory=lambda: recorded)
    backend.open()
    assert recorded.initialised
    backend.close()
    assert not recorded.initialised
    assert backend.read() == ()
