"""An A/B comparison of two engines: the same prompt set and load on each, level by level.

Pure arithmetic over stored runs, so a comparison printed right after `bench --ab` and
one rebuilt later from the store are the same figures. B/A is reported for every metric as
it is (not "improvement"): above 1 means B is higher, which is better for throughput and
worse for latencies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchUsageError
from bench.runs import BenchRun

METRICS: tuple[tuple[str, str, Callable[[BenchRun], float | None]], ...] = (
    ("output_tok_s", "out tok/s", lambda r: r.metrics.output_throughput),
    ("ttft_p50_ms", "ttft p50 ms", lambda r: r.metrics.ttft_ms.get("p50")),
    ("ttft_p99_ms", "ttft p99 ms", lambda r: r.metrics.ttft_ms.get("p99")),
    ("tpot_p50_ms", "tpot p50 ms", lambda r: r.metrics.tpot_ms.get("p50")),
)
"""(key, label, reader): what an A/B compares at each level."""


def ratio(a: float | None, b: float | None) -> float | None:
    """B/A, or None where it means nothing (a missing, zero or infinite figure)."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or a == 0:
        return None
    return b / a


@dataclass(frozen=True)
class MetricPair:
    key: str
    label: str
    a: float | None
    b: float | None

    @property
    def b_over_a(self) -> float | None:
        return ratio(self.a, self.b)

    def as_dict(self) -> dict[str, Any]:
        return {"a": _finite(self.a), "b": _finite(self.b), "b_over_a": self.b_over_a}


@dataclass(frozen=True)
class LevelComparison:
    concurrency: int
    run_a: BenchRun
    run_b: BenchRun
    metrics: tuple[MetricPair, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "runs": {"a": self.run_a.id, "b": self.run_b.id},
            "completed": {"a": self.run_a.metrics.completed, "b": self.run_b.metrics.completed},
            "metrics": {m.key: m.as_dict() for m in self.metrics},
        }


def compare_level(a: BenchRun, b: BenchRun) -> LevelComparison:
    pairs = tuple(MetricPair(key, label, read(a), read(b)) for key, label, read in METRICS)
    return LevelComparison(a.concurrency, a, b, pairs)


def compare_runs(a_runs: Sequence[BenchRun], b_runs: Sequence[BenchRun]) -> list[LevelComparison]:
    """Level by level, in A's order. Refuses runs that did not send the same prompt set or
    the same levels: their ratio would compare the load, not the engines."""
    by_level = {run.concurrency: run for run in b_runs}
    if sorted(by_level) != sorted(r.concurrency for r in a_runs):
        raise BenchUsageError("the two engines were not run at the same concurrency levels")
    levels = []
    for run in a_runs:
        other = by_level[run.concurrency]
        if run.prompts != other.prompts or run.request_rate != other.request_rate:
            raise BenchUsageError(
                f"at concurrency {run.concurrency} runs {run.id} and {other.id} did not "
                "send the same prompt set and arrivals"
            )
        levels.append(compare_level(run, other))
    return levels


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
