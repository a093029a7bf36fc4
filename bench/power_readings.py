"""Joules per device between the first and the last of a series of machine readings.

Per device, the best basis it offers: its energy counter where it has one that moved
forward (NVML's total energy, amdsmi's energy accumulator, RAPL's package counter), else
its sampled power draw integrated by the trapezoid rule (NVML `power.draw` on GPUs without
a counter, amdsmi socket power). A counter counts every joule; integrated samples miss what
happens between two readings, so a figure with any integrated part is labelled as such
(bench.power). GPUs are matched across readings by vendor and index, not by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from hardware import MachineSnapshot

CPU_PACKAGE = "CPU package (RAPL)"


@dataclass(frozen=True)
class EnergyPart:
    """One device's energy over the readings."""

    device: str
    joules: float
    counted: bool
    """True: an energy counter; False: sampled power, integrated."""
    readings: int
    """How many readings the figure rests on (2 for a counter: first and last)."""
    first_w: float | None
    """The device's power at the first reading, where it gave one (a PowerMeter takes
    that reading before the first request, so it is the idle power)."""


def trapezoid_joules(points: Sequence[tuple[float, float]]) -> float:
    """The area under a power curve given as (seconds, watts) readings, oldest first:
    each interval counts the mean of its two ends. Readings out of order add nothing."""
    return sum((t1 - t0) * (w0 + w1) / 2.0 for (t0, w0), (t1, w1) in pairwise(points) if t1 > t0)


def _gpu_series(
    snapshots: Sequence[MachineSnapshot], key: tuple[str, int]
) -> list[tuple[float, float | None, int | None]]:
    """(time, power W, energy mJ) of one GPU at each reading that lists it."""
    return [
        (s.timestamp_s, g.power_draw_w, g.energy_total_mj)
        for s in snapshots
        for g in s.gpus
        if (g.vendor, g.index) == key
    ]


def _gpu_part(snapshots: Sequence[MachineSnapshot], key: tuple[str, int]) -> EnergyPart | None:
    """Counter where it moved, else integrated power where the GPU reported it at the first
    and the last reading (so the integral spans the whole window); else None."""
    series = _gpu_series(snapshots, key)
    name = f"{key[0]} GPU {key[1]}"
    if len(series) < 2 or series[0][0] != snapshots[0].timestamp_s:
        return None
    (t0, w0, e0), (t1, _, e1) = series[0], series[-1]
    if t1 != snapshots[-1].timestamp_s:
        return None
    if e0 is not None and e1 is not None and e1 > e0:
        return EnergyPart(name, (e1 - e0) / 1000.0, True, 2, w0)
    points = [(t, w) for t, w, _ in series if w is not None]
    if len(points) < 2 or points[0][0] != t0 or points[-1][0] != t1:
        return None
    return EnergyPart(name, trapezoid_joules(points), False, len(points), w0)


def _rapl_part(snapshots: Sequence[MachineSnapshot]) -> EnergyPart | None:
    start, end = snapshots[0].cpu, snapshots[-1].cpu
    if start.package_energy_uj is None or end.package_energy_uj is None:
        return None
    if end.package_energy_uj <= start.package_energy_uj:  # wrapped, or did not move
        return None
    joules = (end.package_energy_uj - start.package_energy_uj) / 1e6
    return EnergyPart(CPU_PACKAGE, joules, True, 2, start.package_power_w)


def energy_parts(snapshots: Sequence[MachineSnapshot]) -> tuple[list[EnergyPart], list[str]]:
    """Every device's energy between the first and the last reading, and the GPUs that gave
    neither a counter nor power readings (left out of the figure, and named in its source)."""
    if len(snapshots) < 2 or snapshots[-1].timestamp_s <= snapshots[0].timestamp_s:
        return [], []
    parts, missing = [], []
    for gpu in snapshots[0].gpus:
        part = _gpu_part(snapshots, (gpu.vendor, gpu.index))
        if part is None:
            missing.append(f"{gpu.vendor} GPU {gpu.index}")
        else:
            parts.append(part)
    rapl = _rapl_part(snapshots)
    if rapl is not None:
        parts.append(rapl)
    return parts, missing
