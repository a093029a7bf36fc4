"""Live telemetry: a background thread takes one batched reading per interval into a ring.

The server runs one Sampler per machine and serves `latest()` and `history(since)` through
its control API as `snapshot_to_dict(...)`; a client that polls `history(since=last_seen)`
gets only what is new. Rates (CPU %, RAPL watts, per-process CPU %) come from the
difference between consecutive readings, so the first reading has them as None.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from hardware.machine import GpuBackend, MachineReader
from hardware.processes import ProcessTracker
from hardware.snapshots import MachineSnapshot

log = logging.getLogger(__name__)
PidSource = Callable[[], Mapping[str, int]]


class _Rates:
    """Whole-machine CPU busy % and RAPL package watts between two readings."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cpu: tuple[float, float] | None = None  # (busy seconds, total seconds)
        self._energy: tuple[int, float] | None = None  # (uJ, monotonic s)

    def cpu_percent(self) -> float | None:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        total = sum(times)
        previous, self._cpu = self._cpu, (total - idle, total)
        if previous is None or total <= previous[1]:
            return None
        return round(100 * (total - idle - previous[0]) / (total - previous[1]), 1)

    def package_watts(self, energy_uj: int | None) -> float | None:
        """None on the first reading, where RAPL is unreadable, and when a counter wrapped."""
        now = self._clock()
        previous = self._energy
        self._energy = None if energy_uj is None else (energy_uj, now)
        if previous is None or energy_uj is None or energy_uj < previous[0] or now <= previous[1]:
            return None
        return (energy_uj - previous[0]) / 1e6 / (now - previous[1])


class Sampler:
    """Samples the machine every `interval_s` seconds, keeping `window_s` seconds of history.

    `pids` names the processes to follow (name -> pid, asked afresh each sample); the
    engine supervisor supplies it. `backends` defaults to the GPU libraries of this OS;
    `clock` stamps `timestamp_s`. `sample()` can also be called without the thread.
    """

    def __init__(
        self,
        interval_s: float = 1.0,
        window_s: float = 900.0,
        *,
        pids: PidSource | None = None,
        model_dir: Path | None = None,
        backends: Sequence[GpuBackend] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0 or window_s <= 0:
            raise ValueError("interval_s and window_s must be positive")
        self.interval_s = interval_s
        self.capacity = max(1, math.ceil(window_s / interval_s))
        self._pids = pids or dict
        self._reader = MachineReader(model_dir=model_dir, backends=backends, clock=clock)
        self._ring: deque[MachineSnapshot] = deque(maxlen=self.capacity)
        self._ring_lock = threading.Lock()
        self._sample_lock = threading.Lock()
        self._rates = _Rates()
        self._tracker = ProcessTracker()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the background thread (no-op if running). GPU libraries open in the thread,
        so a slow driver start does not hold up the caller."""
        if self.running:
            return
        self._stop = threading.Event()  # fresh: a thread that outlived stop() keeps its own
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name="hostbench-sampler", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop and join promptly: the thread waits on an Event, not in a sleep."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("hardware sampler did not stop within %.1f s", timeout_s)
                return
        self._reader.close()

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def sample(self) -> MachineSnapshot:
        """Take one reading now, add it to the history and return it."""
        with self._sample_lock:
            snapshot = self._reader.read()
            gpu_lists_known = any(gpu.processes is not None for gpu in snapshot.gpus)
            cpu = dataclasses.replace(
                snapshot.cpu,
                utilization_percent=self._rates.cpu_percent(),
                package_power_w=self._rates.package_watts(snapshot.cpu.package_energy_uj),
            )
            processes = self._tracker.read(self._ask_pids(), snapshot.gpus, gpu_lists_known)
            snapshot = dataclasses.replace(snapshot, cpu=cpu, processes=processes)
        with self._ring_lock:
            self._ring.append(snapshot)
        return snapshot

    def latest(self) -> MachineSnapshot | None:
        with self._ring_lock:
            return self._ring[-1] if self._ring else None

    def history(self, since: float | None = None) -> list[MachineSnapshot]:
        """Oldest first; with `since` (a snapshot's timestamp_s), only later snapshots."""
        with self._ring_lock:
            snapshots = list(self._ring)
        if since is None:
            return snapshots
        return [s for s in snapshots if s.timestamp_s > since]

    def _ask_pids(self) -> Mapping[str, int]:
        try:
            return dict(self._pids())
        except Exception:  # the supervisor's callable must not stop the telemetry
            log.exception("hardware sampler: the pid source failed")
            return {}

    def _run(self, stop: threading.Event) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                self.sample()
            except Exception:  # one bad reading must not end the telemetry
                log.exception("hardware sample failed")
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip the missed ticks
                next_at, delay = time.monotonic(), 0.0
            if stop.wait(delay):
                break
