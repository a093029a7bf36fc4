"""Stored bench runs as typed rows: one per concurrency level, and one per request sent.

The measuring layer's own types (`BenchRun`, `BenchMetrics`, `StreamSample`, in `bench`)
convert to and from these; here the nested figures are plain dicts, written as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

JSON_COLUMNS = ("target", "prompts", "metrics", "context", "power", "decode_limit", "prefill")


def dumps(value: Any) -> str:
    """JSON for a column; NaN and infinity kept (a run with no TPOT has NaN figures)."""
    return json.dumps(value, default=str, allow_nan=True)


@dataclass(frozen=True)
class BenchRunRecord:
    """One load test at one concurrency, as stored in `bench_runs`."""

    group_id: str
    created_at: float
    label: str
    kind: str
    concurrency: int
    request_rate: float | None
    """None when every request was sent at once."""
    num_prompts: int
    completed: int
    failed: int
    output_tok_s: float | None
    ttft_p50_ms: float | None
    target: dict[str, Any]
    prompts: dict[str, Any]
    metrics: dict[str, Any]
    context: dict[str, Any]
    power: dict[str, Any]
    decode_limit: dict[str, Any] | None
    prefill: dict[str, Any]
    base_url: str | None = None
    catalog_id: str | None = None
    id: int | None = None
    """Given by the store when the run is written; None before."""

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        if row["id"] is None:
            del row["id"]  # the table numbers runs
        for column in JSON_COLUMNS:
            row[column] = dumps(row[column])
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BenchRunRecord:
        values = dict(row)
        for column in JSON_COLUMNS:
            values[column] = json.loads(values[column]) if values[column] else None
        values["prefill"] = values["prefill"] or {}
        return cls(**values)


@dataclass(frozen=True)
class BenchRequestRecord:
    """One request of a bench run, as stored in `bench_requests`."""

    idx: int
    sent_offset_s: float
    """Seconds after the run's first send."""
    ok: bool
    ttft_ms: float | None
    e2e_ms: float
    output_tokens: int
    prompt_tokens: int | None
    tokens_from_usage: bool
    itl_ms: tuple[float, ...]
    error: str | None
    engine_timings: dict[str, Any] | None
    """The engine's own timings for the request (llama-server's `timings`), if it sent them."""

    def as_row(self, run_id: int) -> dict[str, Any]:
        row = {"run_id": run_id, **asdict(self)}
        row["ok"] = int(self.ok)
        row["tokens_from_usage"] = int(self.tokens_from_usage)
        row["itl_ms"] = dumps(list(self.itl_ms))
        row["engine_timings"] = dumps(self.engine_timings)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BenchRequestRecord:
        timings = row["engine_timings"]
        return cls(
            idx=row["idx"],
            sent_offset_s=row["sent_offset_s"] or 0.0,
            ok=bool(row["ok"]),
            ttft_ms=row["ttft_ms"],
            e2e_ms=row["e2e_ms"],
            output_tokens=row["output_tokens"],
            prompt_tokens=row["prompt_tokens"],
            tokens_from_usage=bool(row["tokens_from_usage"]),
            itl_ms=tuple(json.loads(row["itl_ms"] or "[]")),
            error=row["error"],
            engine_timings=json.loads(timings) if timings else None,
        )
