"""How far the memory estimate has been from what engines held on this machine so far.

Every bench record stores the launch's estimate next to the engine's measured memory
(engines/memory_check.py); `hostbench fit` reads them back to give its estimate an error
band measured here rather than a promise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.runs import BenchRun


@dataclass(frozen=True)
class EstimateRecord:
    """Errors of the estimate, (estimate - measured) / measured in percent, one per launch."""

    errors_percent: tuple[float, ...]

    @property
    def launches(self) -> int:
        return len(self.errors_percent)

    def text(self) -> str:
        if not self.errors_percent:
            return "not measured on this machine yet (every `hostbench bench` run records it)"
        low, high = min(self.errors_percent), max(self.errors_percent)
        band = f"{low:+.1f} %" if low == high else f"{low:+.1f} to {high:+.1f} %"
        return (
            f"{band} of what the engine held, over {self.launches} launch(es) benched here "
            "(positive: on the safe side)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"launches": self.launches, "errors_percent": list(self.errors_percent)}


def estimate_record(runs: Iterable[BenchRun]) -> EstimateRecord:
    """One error per distinct launch (the runs of one sweep share the engine's figures)."""
    seen: dict[tuple[Any, ...], float] = {}
    for run in runs:
        memory = (run.context.get("engine") or {}).get("memory") or {}
        error = memory.get("error_percent")
        if error is not None:
            key = (memory.get("estimate_bytes"), memory.get("measured_bytes"))
            seen.setdefault(key, float(error))
    return EstimateRecord(tuple(seen.values()))
