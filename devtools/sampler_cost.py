"""What the hardware sampler costs: CPU share of one core at 1 Hz, and time per sample.

    python -m devtools.sampler_cost [--seconds 60] [--interval 1.0] [--model-dir DIR]

Two phases of the same length in one process: an idle baseline (the main thread waits on
an Event), then the Sampler running with this process as a followed PID. The sampler's
share is the difference in process CPU time between the phases, over the wall time; the
sampler thread's own CPU time per sample (time.thread_time) is reported beside it, and so
is the wall time of each sample(). Percentiles interpolate linearly (numpy's default).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware import MachineSnapshot, Sampler


@dataclass
class SampleTimes:
    """Wall and thread-CPU seconds of each sample() call."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)


class TimedSampler(Sampler):
    """The real sampler, each reading's wall and CPU time recorded in `times`."""

    def __init__(self, times: SampleTimes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.times = times

    def sample(self) -> MachineSnapshot:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return super().sample()
        finally:
            self.times.cpu_s.append(time.thread_time() - cpu)
            self.times.wall_s.append(time.perf_counter() - wall)


@dataclass(frozen=True)
class Phase:
    wall_s: float
    process_cpu_s: float

    @property
    def cpu_percent_of_core(self) -> float:
        return 100 * self.process_cpu_s / self.wall_s


def measure(seconds: float, start: Callable[[], None]) -> Phase:
    """Process CPU time over `seconds` of wall time after `start()` (the main thread
    itself only waits on an Event, which costs nothing measurable)."""
    cpu, wall = time.process_time(), time.monotonic()
    start()
    threading.Event().wait(seconds)
    return Phase(time.monotonic() - wall, time.process_time() - cpu)


def run_sampler(
    seconds: float, interval_s: float, model_dir: Path
) -> tuple[Phase, SampleTimes, MachineSnapshot | None]:
    times = SampleTimes()
    sampler = TimedSampler(
        times,
        interval_s=interval_s,
        window_s=seconds,
        pids=lambda: {"self": os.getpid()},
        model_dir=model_dir,
    )
    phase = measure(seconds, sampler.start)
    sampler.stop()
    return phase, times, sampler.latest()


def percentile(values: Sequence[float], q: int) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report(
    baseline: Phase, sampled: Phase, times: SampleTimes, last: MachineSnapshot | None
) -> str:
    ms = [t * 1000 for t in times.wall_s]
    cpu_ms = [t * 1000 for t in times.cpu_s]
    steady, steady_cpu = ms[1:] or ms, cpu_ms[1:] or cpu_ms
    gpus = ", ".join(g.name for g in last.gpus) if last and last.gpus else "none"
    share = sampled.cpu_percent_of_core - baseline.cpu_percent_of_core
    thread_share = 100 * sum(times.cpu_s) / sampled.wall_s
    return "\n".join(
        [
            f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, GPUs: {gpus}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
            f"baseline (idle): {baseline.wall_s:.1f} s wall, "
            f"{baseline.process_cpu_s * 1000:.1f} ms CPU = {baseline.cpu_percent_of_core:.3f} %",
            f"sampler running: {sampled.wall_s:.1f} s wall, {len(ms)} samples, "
            f"{sampled.process_cpu_s * 1000:.1f} ms CPU = {sampled.cpu_percent_of_core:.3f} %",
            f"sampler cost: {share:.3f} % of one core (difference of the phases); "
            f"sampler thread alone: {thread_share:.3f} %",
            f"time per sample (wall, ms): first {ms[0]:.2f}; after it p50 "
            f"{percentile(steady, 50):.2f}, p95 {percentile(steady, 95):.2f}, "
            f"max {max(steady):.2f}",
            f"CPU per sample (sampler thread, ms): first {cpu_ms[0]:.2f}; after it p50 "
            f"{percentile(steady_cpu, 50):.2f}, p95 {percentile(steady_cpu, 95):.2f}, "
            f"max {max(steady_cpu):.2f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sampler_cost", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--interval", type=float, default=1.0, help="sampler interval (s)")
    parser.add_argument("--model-dir", type=Path, default=Path.cwd(), help="disk to measure")
    args = parser.parse_args(argv)
    print(f"idle baseline for {args.seconds:g} s ...", file=sys.stderr, flush=True)
    baseline = measure(args.seconds, lambda: None)
    print(f"sampler at {1 / args.interval:g} Hz for {args.seconds:g} s ...", file=sys.stderr)
    sampled, times, last = run_sampler(args.seconds, args.interval, args.model_dir)
    if not times.wall_s:
        print("the sampler took no sample", file=sys.stderr)
        return 1
    print(report(baseline, sampled, times, last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
