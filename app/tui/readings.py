"""Series and captions from the server's hardware readings, for the Machine screen.

No Textual here. A figure a reading does not have stays out of its series, and the caption
says "-", so a GPU without a power sensor draws no fake zero line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.tui.present import NA, human_bytes

if TYPE_CHECKING:
    from hardware import GpuSnapshot, MachineSnapshot, ProcessSnapshot


def series(
    history: Sequence[MachineSnapshot], pick: Callable[[MachineSnapshot], float | None]
) -> tuple[float, ...]:
    return tuple(v for s in history if (v := pick(s)) is not None)


def gpu(snapshot: MachineSnapshot, index: int) -> GpuSnapshot | None:
    return next((g for g in snapshot.gpus if g.index == index), None)


def gpu_series(
    history: Sequence[MachineSnapshot], index: int, pick: Callable[[GpuSnapshot], float | None]
) -> tuple[float, ...]:
    def one(snapshot: MachineSnapshot) -> float | None:
        found = gpu(snapshot, index)
        return pick(found) if found is not None else None

    return series(history, one)


def ram_used(snapshot: MachineSnapshot) -> float:
    return float(snapshot.memory.ram_total_bytes - snapshot.memory.ram_available_bytes)


def gpu_memory_used(g: GpuSnapshot) -> float | None:
    return None if g.memory_used_bytes is None else float(g.memory_used_bytes)


def gpus_memory_used(snapshot: MachineSnapshot) -> float | None:
    """Memory used on all GPUs together; None without a GPU reading."""
    used = [g.memory_used_bytes for g in snapshot.gpus if g.memory_used_bytes is not None]
    return float(sum(used)) if used else None


def process_rss(history: Sequence[MachineSnapshot], name: str) -> tuple[float, ...]:
    def one(snapshot: MachineSnapshot) -> float | None:
        found = process(snapshot, name)
        return float(found.rss_bytes) if found else None

    return series(history, one)


def process(snapshot: MachineSnapshot, name: str) -> ProcessSnapshot | None:
    return next((p for p in snapshot.processes if p.name == name), None)


def memory_caption(
    process: ProcessSnapshot | None, estimate_bytes: int | None, error_percent: float | None
) -> str:
    """`188.2 MiB + 0 B GPU, est 199.1 MiB (+5.8 %)`: what the engine holds, then the
    launch's estimate and its error (engines/memory_check.py)."""
    held = human_bytes(process.rss_bytes) if process else NA
    if process and process.gpu_memory_bytes:
        held += f" + {human_bytes(process.gpu_memory_bytes)} GPU"
    if estimate_bytes is None:
        return held
    error = "" if error_percent is None else f" ({error_percent:+.1f} %)"
    return f"{held}, est {human_bytes(estimate_bytes)}{error}"


def power_w(snapshot: MachineSnapshot) -> float | None:
    """GPU board power plus CPU package power, where measured; None when neither is."""
    parts = [g.power_draw_w for g in snapshot.gpus if g.power_draw_w is not None]
    if snapshot.cpu.package_power_w is not None:
        parts.append(snapshot.cpu.package_power_w)
    return sum(parts) if parts else None
