"""The estimate next to the actual: which figure of the process each estimate is held
against, and the error's sign (positive: the estimate is on the safe side)."""

from __future__ import annotations

from engines.base import MemoryPlan
from engines.memory_check import error_percent, measured_memory
from hardware.snapshots import ProcessSnapshot

MIB = 1 << 20


def _process(rss_mib: int, gpu_mib: int | None) -> ProcessSnapshot:
    gpu = None if gpu_mib is None else gpu_mib * MIB
    return ProcessSnapshot("small", 4242, rss_mib * MIB, 12.0, gpu, (0,) if gpu_mib else ())


def test_a_ram_estimate_is_held_against_resident_memory() -> None:
    plan = MemoryPlan(210 * MIB, "fit estimate: 0.21 GiB of RAM")
    found = measured_memory(plan, _process(200, 0))
    assert found["memory_measured_bytes"] == 200 * MIB
    assert found["memory_error_percent"] == 5.0


def test_a_vram_estimate_is_held_against_the_process_gpu_memory() -> None:
    """The H200 GPU check's 4096-token case: estimate 828.6 MiB, the engine held 798 MiB."""
    plan = MemoryPlan(round(828.6 * MIB), "fit estimate: 0.81 GiB of VRAM", on_gpu=True)
    found = measured_memory(plan, _process(1500, 798))
    assert found["memory_measured_bytes"] == 798 * MIB
    assert found["memory_error_percent"] == 3.8
    unreadable = measured_memory(plan, _process(1500, None))
    assert unreadable["memory_measured_bytes"] is None
    assert "not readable" in unreadable["memory_measured_basis"]


def test_nothing_is_claimed_without_a_reading_or_an_estimate() -> None:
    assert measured_memory(None, None)["memory_measured_bytes"] is None
    assert measured_memory(None, _process(200, None))["memory_error_percent"] is None
    assert error_percent(None, 5) is None and error_percent(5, 0) is None
    assert error_percent(90, 100) == -10.0
