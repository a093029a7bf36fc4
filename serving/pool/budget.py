"""The memory all engines may hold together: configured, or measured once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog.placement import Devices
from hardware import discover

GIB = float(1 << 30)


@dataclass(frozen=True)
class Budget:
    bytes: int
    basis: str
    """Where the figure came from, shown by `hostbench ps`."""


def configured_budget(gib: float) -> Budget:
    return Budget(int(gib * GIB), f"pool.memory_budget_gib = {gib:g}")


def measured_budget(models_dir: Path, held_bytes: int) -> Budget:
    """Usable memory now (free VRAM when there are GPUs, else available RAM, each less the
    fit estimate's safety margin) plus what running engines already hold: those engines
    are inside the budget, not outside it."""
    devices = Devices.from_snapshot(discover(models_dir))
    pools = devices.gpus or (devices.ram,)
    usable = sum(device.usable_bytes for device in pools)
    where = "free VRAM" if devices.gpus else "available RAM"
    total = usable + held_bytes
    basis = (
        f"{where} when the first model loaded on demand ({usable / GIB:.2f} GiB usable) "
        f"+ {held_bytes / GIB:.2f} GiB held by engines then"
    )
    return Budget(total, basis)
