"""Measuring: the thread that writes request records, load generation, live metrics and cost.

Public surface for front ends:
- recording: `RequestRecorder` (the records and the store itself are in `storage`);
- load tests: `Target`, `BenchPlan`, `SweepHooks`, `SweepProgress`, `run_sweep` /
  `run_sweep_blocking` (bench.session), prompts (bench.prompts), stored runs `BenchRuns`;
- live metrics: `LiveMetrics` (bench.live);
- cost and prices: bench.cost, bench.prices, bench.comparison, bench.limits, bench.power.
"""

from bench.recorder import RequestRecorder

__all__ = ["RequestRecorder"]
