"""The memory estimate next to what the engine really holds.

The estimate is the launch's `MemoryPlan` (the fit estimate, vLLM's reservation, or a
generic engine's declared figure); the actual is the engine process as the server's
sampler last read it: its GPU memory (NVML's per-process figure) where the estimate is of
VRAM, else its resident memory. The error is (estimate - actual) / actual: positive when
the estimate is on the safe side. docs/benchmarks.md has the figures measured so far.
"""

from __future__ import annotations

from typing import Any

from engines.base import MemoryPlan
from hardware.snapshots import ProcessSnapshot

EMPTY: dict[str, Any] = {
    "memory_measured_bytes": None,
    "memory_measured_basis": None,
    "memory_error_percent": None,
}


def measured_memory(plan: MemoryPlan | None, process: ProcessSnapshot | None) -> dict[str, Any]:
    """The status fields `memory_measured_bytes`, `_basis` and `memory_error_percent`."""
    if process is None:
        return dict(EMPTY)
    if plan is not None and plan.on_gpu:
        if process.gpu_memory_bytes is None:
            return {**EMPTY, "memory_measured_basis": "GPU memory of the process not readable"}
        actual, basis = process.gpu_memory_bytes, "GPU memory of the engine's process (NVML)"
    else:
        actual, basis = process.rss_bytes, "resident memory of the engine's process"
    return {
        "memory_measured_bytes": actual,
        "memory_measured_basis": basis,
        "memory_error_percent": error_percent(plan.bytes if plan else None, actual),
    }


def error_percent(estimate: int | None, actual: int | None) -> float | None:
    """(estimate - actual) / actual in percent, one decimal; None without both."""
    if not estimate or not actual:
        return None
    return round(100 * (estimate - actual) / actual, 1)
