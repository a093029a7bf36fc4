"""Per-process figures for the engines the supervisor runs: RSS, CPU %, GPU memory.

CPU % is a rate, so the tracker keeps each process's previous CPU time; it also keeps the
psutil.Process object so a PID that was reused by a new process is noticed (psutil checks
the creation time) instead of being credited with the old one's history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import psutil

from hardware.snapshots import GpuSnapshot, ProcessSnapshot


@dataclass
class _Seen:
    process: psutil.Process
    cpu_time_s: float
    at_s: float


class ProcessTracker:
    """Reads a set of named PIDs each sample; a vanished process gives no entry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[int, _Seen] = {}

    def read(
        self, pids: Mapping[str, int], gpus: Iterable[GpuSnapshot], gpu_lists_known: bool
    ) -> tuple[ProcessSnapshot, ...]:
        """`gpu_lists_known`: some backend lists GPU processes, so a PID missing from every
        list is using 0 bytes rather than an unknown amount."""
        gpu_use = gpu_memory_by_pid(gpus)
        found = []
        for name, pid in pids.items():
            figures = self._figures(pid)
            if figures is None:
                continue
            rss, cpu = figures
            used, indices = gpu_use.get(pid, (0 if gpu_lists_known else None, ()))
            found.append(ProcessSnapshot(name, pid, rss, cpu, used, indices))
        live = set(pids.values())
        self._seen = {pid: seen for pid, seen in self._seen.items() if pid in live}
        return tuple(found)

    def _figures(self, pid: int) -> tuple[int, float | None] | None:
        """(rss bytes, cpu percent of one core since the last read), or None if gone."""
        try:
            process = self._process(pid)
            with process.oneshot():
                rss = process.memory_info().rss
                times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._seen.pop(pid, None)
            return None
        now, cpu_s = self._clock(), times.user + times.system
        previous = self._seen.get(pid)
        self._seen[pid] = _Seen(process, cpu_s, now)
        if previous is None or now <= previous.at_s:
            return rss, None
        return rss, max(0.0, (cpu_s - previous.cpu_time_s) / (now - previous.at_s) * 100)

    def _process(self, pid: int) -> psutil.Process:
        seen = self._seen.get(pid)
        if seen is not None and seen.process.is_running():
            return seen.process
        self._seen.pop(pid, None)
        return psutil.Process(pid)


def gpu_memory_by_pid(gpus: Iterable[GpuSnapshot]) -> dict[int, tuple[int | None, tuple[int, ...]]]:
    """PID -> (bytes summed over GPUs or None if a driver could not say, GPU indices)."""
    totals: dict[int, tuple[int | None, tuple[int, ...]]] = {}
    for gpu in gpus:
        for proc in gpu.processes or ():
            used, indices = totals.get(proc.pid, (0, ()))
            if used is not None and proc.used_memory_bytes is not None:
                used += proc.used_memory_bytes
            else:
                used = None
            totals[proc.pid] = (used, (*indices, gpu.index))
    return totals
