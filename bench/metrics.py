"""Run-level metrics of a load test, as vLLM's `bench serve` computes them (docs/architecture.md,
"Measuring").

Per request (bench.loadgen.StreamSample): TTFT, E2E, ITL gaps and output tokens from the
server's `usage`. Per run: throughput over the run's wall time, and percentiles with numpy's
linear interpolation. TPOT is `(E2E - TTFT) / (output_tokens - 1)`, so a chunk carrying
several tokens is accounted by the token count, not by the number of chunks; a request that
produced one token has no TPOT (it is left out of the TPOT figures and passes a TPOT SLO,
as in vLLM).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.errors import BenchUsageError
from bench.loadgen import StreamSample
from bench.stats import summarize, union_seconds

SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")


class SloError(BenchUsageError):
    """An --slo value that cannot be read; the message names the part at fault."""


def parse_slo(text: str) -> dict[str, float]:
    """`ttft_ms=500,tpot_ms=50` -> {"ttft_ms": 500.0, "tpot_ms": 50.0}."""
    slo: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in SLO_KEYS:
            raise SloError(
                f"--slo: {part!r} is not one of {', '.join(k + '=MS' for k in SLO_KEYS)}"
            )
        try:
            number = float(value)
        except ValueError:
            raise SloError(f"--slo: {key} needs a number of milliseconds, not {value!r}") from None
        if not number > 0:
            raise SloError(f"--slo: {key} must be positive")
        slo[key] = number
    return slo


def meets_slo(sample: StreamSample, slo: Mapping[str, float]) -> bool:
    """A completed request within every given bound; TPOT of a one-token answer passes."""
    if not sample.ok:
        return False
    measured = {
        "ttft_ms": sample.ttft_ms,
        "tpot_ms": sample.tpot_ms or 0.0,
        "e2e_ms": sample.e2e_ms,
    }
    return all(
        measured[key] is not None and measured[key] <= bound  # type: ignore[operator]
        for key, bound in slo.items()
    )


@dataclass(frozen=True)
class BenchMetrics:
    """What one load test measured. Latencies in ms; throughputs per second of wall time."""

    completed: int
    failed: int
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    ttft_ms: dict[str, float]
    tpot_ms: dict[str, float]
    itl_ms: dict[str, float]
    e2e_ms: dict[str, float]
    decode_tokens_per_s: float
    """One stream's decode speed, 1000 / median TPOT (prefill excluded)."""
    tokens_from_usage: int
    """Completed requests whose output count came from `usage` (the rest: content chunks)."""
    goodput: float | None = None
    """Requests per second that met every SLO; None when no SLO was given."""
    slo: dict[str, float] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    """The first few distinct error messages."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = list(self.errors)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchMetrics:
        return cls(**{**data, "errors": tuple(data.get("errors", ()))})


def compute_metrics(
    samples: Sequence[StreamSample], duration_s: float, slo: Mapping[str, float] | None = None
) -> BenchMetrics:
    """The run's figures from its samples and its wall time (first send to last answer)."""
    ok = [s for s in samples if s.ok]
    total_in = sum(s.prompt_tokens or 0 for s in ok)
    total_out = sum(s.output_tokens for s in ok)
    tpots = [s.tpot_ms for s in ok if s.tpot_ms is not None]
    tpot = summarize(tpots)
    good = sum(1 for s in ok if meets_slo(s, slo)) if slo else None
    return BenchMetrics(
        completed=len(ok),
        failed=len(samples) - len(ok),
        duration_s=duration_s,
        total_input_tokens=total_in,
        total_output_tokens=total_out,
        request_throughput=_per_s(len(ok), duration_s),
        output_throughput=_per_s(total_out, duration_s),
        total_token_throughput=_per_s(total_in + total_out, duration_s),
        ttft_ms=summarize([s.ttft_ms for s in ok if s.ttft_ms is not None]),
        tpot_ms=tpot,
        itl_ms=summarize([gap for s in ok for gap in s.itl_ms]),
        e2e_ms=summarize([s.e2e_ms for s in ok]),
        decode_tokens_per_s=1000.0 / tpot["p50"] if tpots and tpot["p50"] > 0 else math.nan,
        tokens_from_usage=sum(1 for s in ok if s.tokens_from_usage),
        goodput=None if good is None else _per_s(good, duration_s),
        slo=dict(slo or {}),
        errors=tuple(dict.fromkeys(s.error for s in samples if s.error))[:5],
    )


def _per_s(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def prefill_share(samples: Sequence[StreamSample], duration_s: float) -> tuple[float, str]:
    """The share of the run's wall time during which the machine processed prompts, to
    split the cost between input and output tokens without charging an hour twice.

    Each request's prompt phase is placed on the client's clock: it ends at the first
    token and lasts the engine's `prompt_ms` (llama-server's timings) or, without them,
    the whole TTFT (queueing included, so an overstatement under load). Phases that
    overlap (several slots' prompts in one batch) count once."""
    ok = [s for s in samples if s.ok and s.ttft_ms is not None]
    if not ok or duration_s <= 0:
        return math.nan, "no completed request"
    timed = all(s.engine_timings is not None for s in ok)
    intervals = []
    for sample in ok:
        end = sample.sent_at_s + (sample.ttft_ms or 0.0) / 1000.0
        length = (
            sample.engine_timings.prompt_ms if timed and sample.engine_timings else sample.ttft_ms
        )
        intervals.append((end - (length or 0.0) / 1000.0, end))
    share = min(1.0, union_seconds(intervals) / duration_s)
    source = "engine prompt_ms" if timed else "TTFT (queueing included)"
    return share, f"{source}, overlapping prompt phases counted once, over wall time"
