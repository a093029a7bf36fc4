"""Power drawn during a bench run, and where the figure came from.

Measured where the hardware counts energy: NVML's energy counter per GPU (Volta and newer)
and RAPL's package counter on CPUs, read at the start and the end of the run. Otherwise the
configured figure (`cost.power_w`), else the GPUs' board power (TDP) from the shipped GPU
facts; else unknown, and electricity cost is left out rather than guessed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hardware import MachineReader, MachineSnapshot


@dataclass(frozen=True)
class PowerFigure:
    """Average watts over a run and how they were obtained."""

    watts: float | None
    method: str
    """measured | tdp | setting | unknown"""
    source: str
    """In words, for the output: which counter, which table row, which setting."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PowerFigure:
        if not data:
            return UNKNOWN_POWER
        return cls(data.get("watts"), data.get("method", "unknown"), data.get("source", ""))


UNKNOWN_POWER = PowerFigure(None, "unknown", "no energy counter, no setting, no GPU facts")
SETTING_SOURCE = "setting cost.power_w; no energy counter readable here"


@dataclass(frozen=True)
class _Counters:
    at_s: float
    gpu_mj: tuple[int | None, ...]
    rapl_uj: int | None


def _counters(snapshot: MachineSnapshot, at_s: float) -> _Counters:
    return _Counters(
        at_s, tuple(g.energy_total_mj for g in snapshot.gpus), snapshot.cpu.package_energy_uj
    )


def measured_watts(start: _Counters, end: _Counters) -> PowerFigure | None:
    """Energy difference over time, from every counter that moved forward at both ends."""
    seconds = end.at_s - start.at_s
    if seconds <= 0:
        return None
    joules, parts = 0.0, []
    gpu_pairs = zip(start.gpu_mj, end.gpu_mj, strict=False)
    gpu_deltas = [b - a for a, b in gpu_pairs if a is not None and b is not None and b > a]
    if gpu_deltas:
        joules += sum(gpu_deltas) / 1000.0
        parts.append(f"NVML energy counter ({len(gpu_deltas)} GPU)")
    if start.rapl_uj is not None and end.rapl_uj is not None and end.rapl_uj > start.rapl_uj:
        joules += (end.rapl_uj - start.rapl_uj) / 1e6
        parts.append("RAPL package energy")
    if not parts:
        return None
    return PowerFigure(
        joules / seconds, "measured", f"measured: {' + '.join(parts)}, {seconds:.0f} s"
    )


def fallback_power(snapshot: MachineSnapshot | None, power_setting_w: float | None) -> PowerFigure:
    """Where nothing counts energy: the configured figure (the user knows their machine),
    else the GPUs' board power (TDP) from the facts table, else unknown."""
    if power_setting_w is not None:
        return PowerFigure(power_setting_w, "setting", SETTING_SOURCE)
    gpus = snapshot.gpus if snapshot else ()
    facts = [g.facts for g in gpus if g.facts is not None and g.facts.tdp_w]
    if gpus and len(facts) == len(gpus):
        watts = sum(f.tdp_w or 0.0 for f in facts)
        names = ", ".join(f.name for f in facts)
        source = f"TDP from GPU facts ({names}, table {facts[0].retrieved}); not measured"
        return PowerFigure(watts, "tdp", source)
    return UNKNOWN_POWER


def power_over(snapshots: Sequence[MachineSnapshot], power_setting_w: float | None) -> PowerFigure:
    """Average watts between the first and last of `snapshots` (a sampler's history) from
    the energy counters that moved; where none did, the setting, TDP, or unknown."""
    if len(snapshots) >= 2:
        first, last = snapshots[0], snapshots[-1]
        start, end = _counters(first, first.timestamp_s), _counters(last, last.timestamp_s)
        measured = measured_watts(start, end)
        if measured is not None:
            return measured
    return fallback_power(snapshots[-1] if snapshots else None, power_setting_w)


class PowerMeter:
    """Reads the energy counters around a run: `start()`, then `stop() -> PowerFigure`."""

    def __init__(
        self,
        power_setting_w: float | None = None,
        reader: MachineReader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader or MachineReader()
        self._power_setting_w = power_setting_w
        self._clock = clock
        self._start: _Counters | None = None
        self.snapshot: MachineSnapshot | None = None

    def start(self) -> MachineSnapshot:
        self.snapshot = self._reader.read()
        self._start = _counters(self.snapshot, self._clock())
        return self.snapshot

    def stop(self) -> PowerFigure:
        if self._start is None:
            raise RuntimeError("PowerMeter.stop() before start()")
        end = _counters(self._reader.read(), self._clock())
        measured = measured_watts(self._start, end)
        return measured or fallback_power(self.snapshot, self._power_setting_w)

    def close(self) -> None:
        self._reader.close()


def with_current_setting(figure: PowerFigure, power_setting_w: float | None) -> PowerFigure:
    """A stored run's power figure for costing now: a measurement stands; otherwise the
    setting as it is today, else what the run had (TDP or unknown)."""
    if figure.method == "measured" or power_setting_w is None:
        return figure
    return PowerFigure(power_setting_w, "setting", SETTING_SOURCE)
