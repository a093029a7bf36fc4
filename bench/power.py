"""Power drawn during a bench run or a sampler's window, and what the figure rests on.

Bases, best first (docs/architecture.md, "Cost"):

- `measured`, "energy counter": every device's energy counter (NVML's total energy per GPU,
  Volta and newer; amdsmi's accumulator; RAPL's CPU package counter) read at both ends;
- `sampled`, "sampled power, integrated": some device has no counter but reports its power
  draw, so its readings are integrated by the trapezoid rule (bench.power_readings). A
  PowerMeter then reads the machine every `interval_s` during the run;
- `setting` and `tdp`: an assumed wattage (`cost.power_w`, else the GPUs' board power from
  the shipped facts), never measured, and said so in the source;
- `unknown`: none of these; electricity and energy are then "not available", not guessed.

Each figure's `source` starts with its basis, so a caller that passes only the watts and
the source along (cost inputs) still shows the basis next to every number.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.power_readings import EnergyPart, energy_parts
from hardware import MachineReader, MachineSnapshot

log = logging.getLogger(__name__)

COUNTER_LABEL = "energy counter"
SAMPLED_LABEL = "sampled power, integrated"
MEASURED_METHODS = ("measured", "sampled")


@dataclass(frozen=True)
class PowerFigure:
    """Average watts over a run and how they were obtained."""

    watts: float | None
    method: str
    """measured (energy counters) | sampled (power readings integrated) | tdp | setting |
    unknown"""
    source: str
    """In words, for the output: which counters or readings, which table row, which setting."""
    seconds: float | None = None
    """The span `watts` averages over (measured and sampled figures)."""
    idle_w: float | None = None
    """Power read just before the run's first request, over the same devices as `watts`;
    None where there was no such reading (then no idle attribution, bench.energy)."""
    idle_s: float | None = None
    """Seconds of the run with no request in flight (bench.energy.idle_seconds)."""

    @property
    def measured(self) -> bool:
        return self.method in MEASURED_METHODS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PowerFigure:
        """Older records have only watts, method and source; extra keys (the stored energy
        summary) are not part of the figure."""
        if not data:
            return UNKNOWN_POWER
        return cls(
            data.get("watts"),
            data.get("method", "unknown"),
            data.get("source", ""),
            data.get("seconds"),
            data.get("idle_w"),
            data.get("idle_s"),
        )


UNKNOWN_POWER = PowerFigure(None, "unknown", "no energy counter, no power reading, no cost.power_w")
SETTING_SOURCE = "setting cost.power_w; assumed, not measured"


def _describe(parts: Sequence[EnergyPart], missing: Sequence[str], seconds: float) -> str:
    counted = [p.device for p in parts if p.counted]
    sampled = [p for p in parts if not p.counted]
    pieces = []
    if sampled:
        readings = min(p.readings for p in sampled)
        names = ", ".join(p.device for p in sampled)
        pieces.append(f"{SAMPLED_LABEL}: {names} power draw, {readings} readings")
    if counted:
        pieces.append(f"{COUNTER_LABEL}: {', '.join(counted)}")
    text = "; ".join(pieces) + f", {seconds:.0f} s"
    if missing:
        text += f"; not included (no counter, no power reading): {', '.join(missing)}"
    return text


def measured_power(snapshots: Sequence[MachineSnapshot], first_is_idle: bool) -> PowerFigure | None:
    """Average watts between the first and last reading from every device that gave a
    counter or power readings; None where none did. `first_is_idle`: the first reading was
    taken with no request in flight, so its power (over the same devices) is the idle power."""
    parts, missing = energy_parts(snapshots)
    if not parts:
        return None
    seconds = snapshots[-1].timestamp_s - snapshots[0].timestamp_s
    joules = sum(p.joules for p in parts)
    method = "measured" if all(p.counted for p in parts) else "sampled"
    firsts = [p.first_w for p in parts]
    idle_w = None
    if first_is_idle and all(w is not None for w in firsts):
        idle_w = sum(w for w in firsts if w is not None)
    source = _describe(parts, missing, seconds)
    return PowerFigure(joules / seconds, method, source, seconds, idle_w)


def fallback_power(snapshot: MachineSnapshot | None, power_setting_w: float | None) -> PowerFigure:
    """Where nothing counts energy or reports power: the configured figure (the user knows
    their machine), else the GPUs' board power (TDP) from the facts table, else unknown.
    Both are assumptions, and their sources say so."""
    if power_setting_w is not None:
        return PowerFigure(power_setting_w, "setting", SETTING_SOURCE)
    gpus = snapshot.gpus if snapshot else ()
    facts = [g.facts for g in gpus if g.facts is not None and g.facts.tdp_w]
    if gpus and len(facts) == len(gpus):
        watts = sum(f.tdp_w or 0.0 for f in facts)
        names = ", ".join(f.name for f in facts)
        source = f"TDP from GPU facts ({names}, table {facts[0].retrieved}); assumed, not measured"
        return PowerFigure(watts, "tdp", source)
    return UNKNOWN_POWER


def power_over(snapshots: Sequence[MachineSnapshot], power_setting_w: float | None) -> PowerFigure:
    """Average watts over `snapshots` (a sampler's history, oldest first) from the counters
    and power readings in it; where there are none, the setting, TDP, or unknown. Requests
    may be in flight at the first reading, so there is no idle power here."""
    measured = measured_power(snapshots, first_is_idle=False)
    if measured is not None:
        return measured
    return fallback_power(snapshots[-1] if snapshots else None, power_setting_w)


def with_current_setting(figure: PowerFigure, power_setting_w: float | None) -> PowerFigure:
    """A stored run's power figure for costing now: a measurement (counter or sampled)
    stands; otherwise the setting as it is today, else what the run had (TDP or unknown)."""
    if figure.measured or power_setting_w is None:
        return figure
    return PowerFigure(power_setting_w, "setting", SETTING_SOURCE)


def _needs_samples(snapshot: MachineSnapshot) -> bool:
    """A GPU without an energy counter that reports its power: integrate its readings."""
    return any(g.energy_total_mj is None and g.power_draw_w is not None for g in snapshot.gpus)


class PowerMeter:
    """Measures the power of a run: `start()` before its first request, `stop() ->
    PowerFigure` after its last.

    The first reading is the idle one. RAPL gives watts only between two readings, so where
    its counter is readable `start()` reads twice, `idle_probe_s` apart, before the run.
    Where a GPU has no energy counter but reports its power, a thread reads the machine
    every `interval_s` until `stop()`, and the figure integrates those readings.
    """

    def __init__(
        self,
        power_setting_w: float | None = None,
        reader: MachineReader | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 1.0,
        idle_probe_s: float = 0.5,
    ) -> None:
        self._reader = reader or MachineReader()
        self._power_setting_w = power_setting_w
        self._clock = clock
        self._interval_s = interval_s
        self._idle_probe_s = idle_probe_s
        self._readings: list[MachineSnapshot] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshot: MachineSnapshot | None = None

    def _read(self) -> MachineSnapshot:
        """A reading stamped with the meter's clock, so intervals are monotonic."""
        return dataclasses.replace(self._reader.read(), timestamp_s=self._clock())

    def _idle_reading(self, raw: MachineSnapshot) -> MachineSnapshot:
        """The first reading of the run, with RAPL's idle watts where its counter is
        readable (a second reading `idle_probe_s` later, still before any request)."""
        first = dataclasses.replace(raw, timestamp_s=self._clock())
        if first.cpu.package_energy_uj is None:
            return first
        self._stop.wait(self._idle_probe_s)
        second = self._read()
        start_uj, end_uj = first.cpu.package_energy_uj, second.cpu.package_energy_uj
        seconds = second.timestamp_s - first.timestamp_s
        if end_uj is None or end_uj < start_uj or seconds <= 0:
            return second
        cpu = dataclasses.replace(second.cpu, package_power_w=(end_uj - start_uj) / 1e6 / seconds)
        return dataclasses.replace(second, cpu=cpu)

    def start(self) -> MachineSnapshot:
        self.snapshot = self._reader.read()
        self._stop = threading.Event()
        first = self._idle_reading(self.snapshot)
        with self._lock:
            self._readings = [first]
        if self._interval_s > 0 and _needs_samples(first):
            self._thread = threading.Thread(
                target=self._sample_until, args=(self._stop,), name="hostbench-power", daemon=True
            )
            self._thread.start()
        return self.snapshot

    def sample(self) -> None:
        """One reading now, into the run's series (the thread's step)."""
        reading = self._read()
        with self._lock:
            self._readings.append(reading)

    def _sample_until(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval_s):
            try:
                self.sample()
            except Exception:  # one bad reading must not end the run's power figure
                log.exception("power reading failed")

    def stop(self) -> PowerFigure:
        if not self._readings:
            raise RuntimeError("PowerMeter.stop() before start()")
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self.sample()
        with self._lock:
            readings, self._readings = self._readings, []
        measured = measured_power(readings, first_is_idle=True)
        return measured or fallback_power(self.snapshot, self._power_setting_w)

    def close(self) -> None:
        self._reader.close()
