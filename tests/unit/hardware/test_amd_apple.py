"""AMD (amdsmi) and Apple (sysctl) backends.

Neither can run on the Linux test machine, so the AMD backend replays a published
`rocm-smi -a` reading (tests/fixtures/amd, source cited there) through its AmdSmiApi
interface, and the Apple backend replays published `sysctl` values.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import pytest

import hardware
from hardware.amd import AmdBackend, AmdClock
from hardware.apple import AppleBackend
from hardware.machine import default_backends
from tests.unit.hardware.conftest import FIXTURES


class ReplayError(Exception):
    """What the replay raises where the reading shows no figure."""


class RecordedAmdSmi:
    """AmdSmiApi answering from a recorded reading (absent keys: not supported)."""

    errors: tuple[type[Exception], ...] = (ReplayError,)

    def __init__(self, reading: Mapping[str, Any]) -> None:
        self.reading = reading
        self.shut_down = False

    def _get(self, index: int, key: str) -> Any:
        value = self.reading["devices"][index].get(key)
        if value is None or (isinstance(value, Mapping) and value.get("unsupported")):
            raise ReplayError(key)
        return value

    def init(self) -> None: ...
    def shutdown(self) -> None:
        self.shut_down = True

    def device_count(self) -> int:
        return len(self.reading["devices"])

    def name(self, index: int) -> str:
        return self._get(index, "name")

    def uuid(self, index: int) -> str:
        return self._get(index, "uuid")

    def driver_version(self, index: int) -> str:
        return self._get(index, "driver_version")

    def vram_bytes(self, index: int) -> tuple[int, int]:
        total, used = self._get(index, "vram_bytes")
        return total, used

    def activity_percent(self, index: int) -> tuple[float, float]:
        gfx, umc = self._get(index, "activity_percent")
        return gfx, umc

    def temperature_c(self, index: int) -> float:
        sensors = self._get(index, "temperature_c")
        edge = sensors["edge"]
        return sensors["hotspot"] if isinstance(edge, Mapping) else edge

    def power_w(self, index: int) -> float:
        return self._get(index, "power_w")

    def power_limit_w(self, index: int) -> float:
        return self._get(index, "power_limit_w")

    def energy_uj(self, index: int) -> float:
        return self._get(index, "energy_uj")

    def clock_mhz(self, index: int, clock: AmdClock) -> int:
        return self._get(index, "clock_mhz")[clock]

    def pcie_link(self, index: int) -> tuple[int, int]:
        generation, width = self._get(index, "pcie_link")
        return generation, width

    def processes(self, index: int) -> list[tuple[int, int | None]]:
        return [(pid, used) for pid, used in self._get(index, "processes")]


def _mi300x() -> RecordedAmdSmi:
    return RecordedAmdSmi(json.loads((FIXTURES / "amd" / "mi300x_rocm_smi.json").read_text()))


def test_amd_reading_fills_what_the_driver_gave() -> None:
    recorded = _mi300x()
    snapshot = hardware.discover(backends=[AmdBackend(api_factory=lambda: recorded)])
    (gpu,) = snapshot.gpus
    assert (gpu.vendor, gpu.index, gpu.name) == ("AMD", 0, "AMD Instinct MI300X OAM")
    assert gpu.temperature_c == 35.0  # junction: the MI300X has no edge sensor
    assert gpu.power_draw_w == 133.0
    assert gpu.power_limit_w == 750.0
    assert gpu.energy_total_mj == 78098902297
    assert (gpu.sm_clock_mhz, gpu.memory_clock_mhz) == (137, 900)
    assert (gpu.utilization_gpu_percent, gpu.utilization_memory_percent) == (0, 0)
    assert gpu.driver_version == "6.7.0"
    # Not in the reading: None, not zero.
    assert (gpu.memory_total_bytes, gpu.pcie_generation, gpu.processes) == (None, None, None)
    assert gpu.facts is not None and gpu.facts.memory_bandwidth_gbps == 5300
    (status,) = snapshot.backends
    assert (status.name, status.available, status.device_count) == ("amdsmi", True, 1)
    assert recorded.shut_down


def test_amdsmi_not_installed_is_a_reason_not_an_error() -> None:
    status = AmdBackend().open()  # the real import: amdsmi is an optional extra
    if status.available:
        pytest.skip("amdsmi and an AMD driver are present on this machine")
    assert status.reason is not None
    assert status.reason == "not installed" or status.reason.startswith("init failed")


def test_apple_backend_reports_unified_memory() -> None:
    """`sysctl hw.memsize` / `machdep.cpu.brand_string` as an Apple M4 Pro with 64 GB prints
    them (hw.memsize: 68719476736; published hardware notes in the public code index)."""
    recorded = {"hw.memsize": "68719476736", "machdep.cpu.brand_string": "Apple M4 Pro"}
    backend = AppleBackend(sysctl=recorded.get, is_apple_silicon=lambda: True)
    assert backend.open().device_count == 1
    (gpu,) = backend.read()
    assert gpu.vendor == "Apple"
    assert gpu.unified_memory
    assert gpu.memory_total_bytes == 64 * 1024**3
    assert gpu.facts is None  # the M4 Pro is not in the shipped table
    backend.close()
    assert backend.read() == ()


def test_apple_backend_off_apple_silicon() -> None:
    status = AppleBackend(is_apple_silicon=lambda: False).open()
    assert (status.available, status.reason) == (False, "not Apple silicon")


def test_default_backends_fit_the_os() -> None:
    names = [backend.name for backend in default_backends()]
    if sys.platform == "darwin":
        assert names == ["sysctl"]
    elif sys.platform.startswith("linux"):
        assert names == ["NVML", "amdsmi"]
    else:
        assert names == ["NVML"]
