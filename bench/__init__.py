"""Measuring: request records, the SQLite store, load generation, live metrics and cost.

Public surface for front ends:
- records and storage: `RequestRecord`, `RequestStatus`, `RequestRecorder`, `Store`;
- load tests: `Target`, `BenchPlan`, `SweepHooks`, `SweepProgress`, `run_sweep` /
  `run_sweep_blocking` (bench.session), prompts (bench.prompts), stored runs `BenchRuns`;
- live metrics: `LiveMetrics` (bench.live);
- cost and prices: bench.cost, bench.prices, bench.comparison, bench.limits, bench.power.
"""

from bench.recorder import RequestRecorder
from bench.records import RequestRecord, RequestStatus
from bench.store import Store, StoreError

__all__ = ["RequestRecord", "RequestRecorder", "RequestStatus", "Store", "StoreError"]
