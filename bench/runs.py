"""Stored bench runs: one row per concurrency level, with everything needed to read the
figures later without the machine (hardware snapshot, engine, options, model hash, prompt
set), and every request's timings.

`BenchRuns` reads and writes them through the store's transactions; `show`/`diff`/`compare`
work from these rows only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchNotFoundError
from bench.limits import DecodeLimit
from bench.loadgen import EngineTimings, StreamSample
from bench.metrics import BenchMetrics
from bench.power import PowerFigure
from bench.store import Store


class RunNotFoundError(BenchNotFoundError):
    """No stored bench run has that id."""


@dataclass(frozen=True)
class BenchRun:
    """One load test at one concurrency."""

    group_id: str
    """Runs started by one `hostbench bench` invocation share it (a concurrency sweep)."""
    created_at: float
    label: str
    """The model name the requests carried."""
    target: dict[str, Any]
    """kind (hostbench | endpoint), base_url, model; never the API key."""
    concurrency: int
    request_rate: float
    prompts: dict[str, Any]
    metrics: BenchMetrics
    context: dict[str, Any]
    """hardware (snapshot dict), engine (status, version, options, model sha256), software."""
    power: PowerFigure
    decode_limit: DecodeLimit | None = None
    prefill: dict[str, Any] = field(default_factory=dict)
    """{"share": float, "source": str}: the machine-time split used for costs."""
    samples: tuple[StreamSample, ...] = ()
    id: int | None = None

    @property
    def kind(self) -> str:
        return str(self.target.get("kind", "endpoint"))

    @property
    def catalog_id(self) -> str | None:
        engine = self.context.get("engine") or {}
        return engine.get("catalog_id")

    @property
    def prefill_share(self) -> float:
        return float(self.prefill.get("share", math.nan))

    @property
    def input_tokens_per_s(self) -> float:
        m = self.metrics
        return m.total_input_tokens / m.duration_s if m.duration_s > 0 else math.nan


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, allow_nan=True)


def _run_row(run: BenchRun) -> dict[str, Any]:
    m = run.metrics
    return {
        "group_id": run.group_id,
        "created_at": run.created_at,
        "label": run.label,
        "kind": run.kind,
        "base_url": run.target.get("base_url"),
        "catalog_id": run.catalog_id,
        "concurrency": run.concurrency,
        "request_rate": None if math.isinf(run.request_rate) else run.request_rate,
        "num_prompts": len(run.samples) or m.completed + m.failed,
        "completed": m.completed,
        "failed": m.failed,
        "output_tok_s": m.output_throughput,
        "ttft_p50_ms": m.ttft_ms.get("p50"),
        "target": _dumps(run.target),
        "prompts": _dumps(run.prompts),
        "metrics": _dumps(m.as_dict()),
        "context": _dumps(run.context),
        "power": _dumps(run.power.as_dict()),
        "decode_limit": _dumps(run.decode_limit.as_dict() if run.decode_limit else None),
        "prefill": _dumps(run.prefill),
    }


def _sample_row(run_id: int, index: int, sample: StreamSample, start: float) -> dict[str, Any]:
    timings = sample.engine_timings
    return {
        "run_id": run_id,
        "idx": index,
        "sent_offset_s": sample.sent_at_s - start,
        "ok": int(sample.ok),
        "ttft_ms": sample.ttft_ms,
        "e2e_ms": sample.e2e_ms,
        "output_tokens": sample.output_tokens,
        "prompt_tokens": sample.prompt_tokens,
        "tokens_from_usage": int(sample.tokens_from_usage),
        "itl_ms": _dumps(list(sample.itl_ms)),
        "error": sample.error,
        "engine_timings": _dumps(vars(timings) if timings else None),
    }


def _run_from_row(row: dict[str, Any], samples: Sequence[StreamSample] = ()) -> BenchRun:
    rate = row["request_rate"]
    return BenchRun(
        id=row["id"],
        group_id=row["group_id"],
        created_at=row["created_at"],
        label=row["label"],
        target=json.loads(row["target"]),
        concurrency=row["concurrency"],
        request_rate=math.inf if rate is None else rate,
        prompts=json.loads(row["prompts"]),
        metrics=BenchMetrics.from_dict(json.loads(row["metrics"])),
        context=json.loads(row["context"]),
        power=PowerFigure.from_dict(json.loads(row["power"])),
        decode_limit=DecodeLimit.from_dict(json.loads(row["decode_limit"])),
        prefill=json.loads(row["prefill"] or "{}"),
        samples=tuple(samples),
    )


def _sample_from_row(row: dict[str, Any]) -> StreamSample:
    timings = json.loads(row["engine_timings"]) if row["engine_timings"] else None
    return StreamSample(
        ok=bool(row["ok"]),
        ttft_ms=row["ttft_ms"],
        e2e_ms=row["e2e_ms"],
        output_tokens=row["output_tokens"],
        itl_ms=tuple(json.loads(row["itl_ms"] or "[]")),
        error=row["error"],
        prompt_tokens=row["prompt_tokens"],
        tokens_from_usage=bool(row["tokens_from_usage"]),
        engine_timings=EngineTimings(**timings) if timings else None,
        sent_at_s=row["sent_offset_s"] or 0.0,
    )


class BenchRuns:
    """Bench runs in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, run: BenchRun) -> int:
        """Store the run and its requests in one transaction; return its id."""
        with self._store.transaction() as db:
            table = db.table("bench_runs")
            table.insert(_run_row(run))
            run_id = int(table.last_pk)  # type: ignore[arg-type]
            start = min((s.sent_at_s for s in run.samples), default=0.0)
            rows = [_sample_row(run_id, i, s, start) for i, s in enumerate(run.samples)]
            if rows:
                db.table("bench_requests").insert_all(rows)
        return run_id

    def get(self, run_id: int, with_samples: bool = True) -> BenchRun:
        rows = self._rows("id = ?", [run_id], limit=1)
        if not rows:
            raise RunNotFoundError(f"no bench run {run_id}; `hostbench bench list` shows them")
        samples = self._samples(run_id) if with_samples else []
        return _run_from_row(rows[0], samples)

    def recent(
        self,
        label: str | None = None,
        kind: str | None = None,
        limit: int = 50,
    ) -> list[BenchRun]:
        """Newest first, without their requests."""
        clauses, params = [], []
        for column, value in (("label", label), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses) or None
        return [_run_from_row(row) for row in self._rows(where, params, limit)]

    def newest_group(self, label: str | None = None, kind: str | None = None) -> list[BenchRun]:
        """Every run of the newest invocation (for `label`), by concurrency."""
        newest = self.recent(label=label, kind=kind, limit=1)
        if not newest:
            return []
        runs = self._rows("group_id = ?", [newest[0].group_id], limit=1000)
        return sorted((_run_from_row(r) for r in runs), key=lambda r: r.concurrency)

    def _rows(self, where: str | None, params: Iterable[Any], limit: int) -> list[dict[str, Any]]:
        with self._store.reading() as db:
            rows = db.table("bench_runs").rows_where(
                where, list(params), order_by="created_at desc, id desc", limit=limit
            )
            return list(rows)

    def _samples(self, run_id: int) -> list[StreamSample]:
        with self._store.reading() as db:
            rows = db.table("bench_requests").rows_where("run_id = ?", [run_id], order_by="idx")
            return [_sample_from_row(row) for row in rows]
