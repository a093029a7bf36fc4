"""Per-model figures for the dashboard, from the server's live metrics.

A server with the bench package's live metrics (`GET /api/metrics/live`: rolling 1-minute
and 15-minute windows per model) is read as it is: one snapshot per poll gives the current
figures, and the snapshots in a row give the sparklines. An older server has only its
request records (`GET /api/requests`); the same figures are then computed here from them
(TTFT, E2E and token counts measured at the gateway, docs/architecture.md, "Measuring"). No Textual.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import percentile
from storage import RequestRecord, RequestStatus

FAILED = frozenset({RequestStatus.ENGINE_ERROR, RequestStatus.UNAVAILABLE})
"""Failures the server is answerable for; a client's bad request is not an error rate."""


def tpot_ms(record: RequestRecord) -> float | None:
    tokens = record.completion_tokens or 0
    if record.ttft_ms is None or record.e2e_ms is None or tokens < 2:
        return None
    return (record.e2e_ms - record.ttft_ms) / (tokens - 1)


def ended_at(record: RequestRecord) -> float:
    return record.started_at + (record.e2e_ms or 0.0) / 1000.0


@dataclass(frozen=True)
class ModelFigures:
    """One model over one window."""

    model: str
    requests: int = 0
    failed: int = 0
    ttft_p50_ms: float | None = None
    tpot_p50_ms: float | None = None
    tokens_per_s: float = 0.0
    """Output tokens per second over the window."""

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.requests if self.requests else None


def _p50(values: Sequence[float]) -> float | None:
    value = percentile(values, 50)
    return None if math.isnan(value) else value


def summarise(model: str, records: Iterable[RequestRecord], window_s: float) -> ModelFigures:
    chosen = list(records)
    ok = [r for r in chosen if r.status == RequestStatus.OK]
    return ModelFigures(
        model=model,
        requests=len(chosen),
        failed=sum(1 for r in chosen if r.status in FAILED),
        ttft_p50_ms=_p50([r.ttft_ms for r in ok if r.ttft_ms is not None]),
        tpot_p50_ms=_p50([t for r in ok if (t := tpot_ms(r)) is not None]),
        tokens_per_s=sum(r.completion_tokens or 0 for r in ok) / window_s,
    )


def window(
    records: Sequence[RequestRecord], model: str, now: float, window_s: float = 60.0
) -> ModelFigures:
    """The model's figures over requests that ended in the last `window_s` seconds."""
    start = now - window_s
    chosen = (r for r in records if r.model == model and start <= ended_at(r) <= now)
    return summarise(model, chosen, window_s)


@dataclass(frozen=True)
class Series:
    """A model's figures per time bucket, oldest first, for sparklines."""

    ttft_ms: tuple[float, ...]
    tpot_ms: tuple[float, ...]
    tokens_per_s: tuple[float, ...]
    error_rate: tuple[float, ...]


def series(
    records: Sequence[RequestRecord],
    model: str,
    now: float,
    buckets: int = 30,
    bucket_s: float = 10.0,
) -> Series:
    """`buckets` consecutive windows of `bucket_s` ending now; empty buckets read 0."""
    figures = [
        window(records, model, now - (buckets - 1 - i) * bucket_s, bucket_s) for i in range(buckets)
    ]
    return Series(
        ttft_ms=tuple(f.ttft_p50_ms or 0.0 for f in figures),
        tpot_ms=tuple(f.tpot_p50_ms or 0.0 for f in figures),
        tokens_per_s=tuple(f.tokens_per_s for f in figures),
        error_rate=tuple((f.error_rate or 0.0) * 100 for f in figures),
    )


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def from_live(snapshot: Mapping[str, Any], model: str, span: str = "1m") -> ModelFigures:
    """A model's window from one live-metrics snapshot (zeros when it served nothing)."""
    stats = snapshot.get("models", {}).get(model, {}).get(span)
    if not stats:
        return ModelFigures(model)
    return ModelFigures(
        model=model,
        requests=int(stats.get("requests", 0)),
        failed=int(stats.get("errors", 0)),
        ttft_p50_ms=_finite((stats.get("ttft_ms") or {}).get("p50")),
        tpot_p50_ms=_finite((stats.get("tpot_ms") or {}).get("p50")),
        tokens_per_s=_finite(stats.get("output_tokens_per_s")) or 0.0,
    )


def live_series(snapshots: Sequence[Mapping[str, Any]], model: str) -> Series:
    """The model's 1-minute window as each poll saw it, oldest first."""
    figures = [from_live(snapshot, model) for snapshot in snapshots]
    return Series(
        ttft_ms=tuple(f.ttft_p50_ms or 0.0 for f in figures),
        tpot_ms=tuple(f.tpot_p50_ms or 0.0 for f in figures),
        tokens_per_s=tuple(f.tokens_per_s for f in figures),
        error_rate=tuple((f.error_rate or 0.0) * 100 for f in figures),
    )
