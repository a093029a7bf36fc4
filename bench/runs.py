"""Stored bench runs: one row per concurrency level, with everything needed to read the
figures later without the machine (hardware snapshot, engine, options, model hash, prompt
set), and every request's timings.

`BenchRuns` turns them into the store's rows (`storage.BenchRunRecord`) and back;
`show`/`diff`/`compare` work from these rows only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.energy import EnergyFigure, energy_per_output
from bench.errors import BenchNotFoundError
from bench.limits import DecodeLimit
from bench.loadgen import EngineTimings, StreamSample
from bench.metrics import BenchMetrics
from bench.power import PowerFigure
from storage import BenchRequestRecord, BenchRunRecord, Store

SERIES_KEY = "series"
"""The context entry of a `bench --vary` run: {"name": "parallel=2", "vary": invocation id}."""


ENERGY_KEY = "energy"
"""The power record's entry with the run's Wh per 1M output tokens, its basis and its
serving share as measured (bench.energy.EnergyFigure), for readers of the store; the run
read back recomputes it from the figure."""


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
    def input_tokens_counted(self) -> bool:
        """Whether the server counted the prompt tokens (`usage`); llama-cpp-python's
        server sends no usage in streams, and then `total_input_tokens` is the prompts' own
        length (the chat template not counted)."""
        return self.metrics.total_input_tokens > 0

    @property
    def total_input_tokens(self) -> int:
        if self.input_tokens_counted:
            return self.metrics.total_input_tokens
        per_prompt = self.prompts.get("input_len")
        return int(per_prompt) * self.metrics.completed if per_prompt else 0

    @property
    def series(self) -> str:
        """The engine setting this run's server was launched with by `bench --vary`
        ("parallel=2"); "" for a plain sweep."""
        return str(self._varied.get("name", ""))

    @property
    def vary_id(self) -> str | None:
        """Shared by every sweep of one `bench --vary`; None for a plain sweep."""
        found = self._varied.get("vary")
        return str(found) if found else None

    @property
    def _varied(self) -> dict[str, Any]:
        found = self.context.get(SERIES_KEY)
        return found if isinstance(found, dict) else {}

    @property
    def energy(self) -> EnergyFigure:
        """Wh per 1M output tokens from the power figure the run was measured with."""
        return energy_per_output(self.power, self.metrics.output_throughput)

    @property
    def input_tokens_per_s(self) -> float:
        m = self.metrics
        return self.total_input_tokens / m.duration_s if m.duration_s > 0 else math.nan


def _concurrency(run: BenchRun) -> int:
    return run.concurrency


def _run_record(run: BenchRun) -> BenchRunRecord:
    m = run.metrics
    return BenchRunRecord(
        group_id=run.group_id,
        created_at=run.created_at,
        label=run.label,
        kind=run.kind,
        base_url=run.target.get("base_url"),
        catalog_id=run.catalog_id,
        concurrency=run.concurrency,
        request_rate=None if math.isinf(run.request_rate) else run.request_rate,
        num_prompts=len(run.samples) or m.completed + m.failed,
        completed=m.completed,
        failed=m.failed,
        output_tok_s=m.output_throughput,
        ttft_p50_ms=m.ttft_ms.get("p50"),
        target=run.target,
        prompts=run.prompts,
        metrics=m.as_dict(),
        context=run.context,
        power={**run.power.as_dict(), ENERGY_KEY: run.energy.as_dict()},
        decode_limit=run.decode_limit.as_dict() if run.decode_limit else None,
        prefill=run.prefill,
    )


def _request_record(index: int, sample: StreamSample, start: float) -> BenchRequestRecord:
    timings = sample.engine_timings
    return BenchRequestRecord(
        idx=index,
        sent_offset_s=sample.sent_at_s - start,
        ok=sample.ok,
        ttft_ms=sample.ttft_ms,
        e2e_ms=sample.e2e_ms,
        output_tokens=sample.output_tokens,
        prompt_tokens=sample.prompt_tokens,
        tokens_from_usage=sample.tokens_from_usage,
        itl_ms=sample.itl_ms,
        error=sample.error,
        engine_timings=vars(timings) if timings else None,
    )


def _run_from_record(record: BenchRunRecord, samples: Sequence[StreamSample] = ()) -> BenchRun:
    rate = record.request_rate
    return BenchRun(
        id=record.id,
        group_id=record.group_id,
        created_at=record.created_at,
        label=record.label,
        target=record.target,
        concurrency=record.concurrency,
        request_rate=math.inf if rate is None else rate,
        prompts=record.prompts,
        metrics=BenchMetrics.from_dict(record.metrics),
        context=record.context,
        power=PowerFigure.from_dict(record.power),
        decode_limit=DecodeLimit.from_dict(record.decode_limit),
        prefill=record.prefill,
        samples=tuple(samples),
    )


def _sample_from_record(record: BenchRequestRecord) -> StreamSample:
    timings = record.engine_timings
    return StreamSample(
        ok=record.ok,
        ttft_ms=record.ttft_ms,
        e2e_ms=record.e2e_ms,
        output_tokens=record.output_tokens,
        itl_ms=record.itl_ms,
        error=record.error,
        prompt_tokens=record.prompt_tokens,
        tokens_from_usage=record.tokens_from_usage,
        engine_timings=EngineTimings(**timings) if timings else None,
        sent_at_s=record.sent_offset_s,
    )


class BenchRuns:
    """Bench runs in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, run: BenchRun) -> int:
        """Store the run and its requests in one transaction; return its id."""
        start = min((s.sent_at_s for s in run.samples), default=0.0)
        requests = [_request_record(i, s, start) for i, s in enumerate(run.samples)]
        return self._store.add_bench_run(_run_record(run), requests)

    def get(self, run_id: int, with_samples: bool = True) -> BenchRun:
        records = self._store.bench_runs(run_id=run_id, limit=1)
        if not records:
            raise RunNotFoundError(f"no bench run {run_id}; `hostbench bench list` shows them")
        samples = self._samples(run_id) if with_samples else []
        return _run_from_record(records[0], samples)

    def recent(
        self,
        label: str | None = None,
        kind: str | None = None,
        limit: int = 50,
    ) -> list[BenchRun]:
        """Newest first, without their requests."""
        records = self._store.bench_runs(label=label, kind=kind, limit=limit)
        return [_run_from_record(record) for record in records]

    def newest_group(self, label: str | None = None, kind: str | None = None) -> list[BenchRun]:
        """Every run of the newest invocation (for `label`), by concurrency."""
        newest = self.recent(label=label, kind=kind, limit=1)
        if not newest:
            return []
        runs = self._store.bench_runs(group_id=newest[0].group_id, limit=1000)
        return sorted((_run_from_record(r) for r in runs), key=_concurrency)

    def newest_series(
        self, label: str | None = None, kind: str | None = None
    ) -> list[tuple[str, list[BenchRun]]]:
        """The newest invocation as (series, runs by concurrency): every sweep of a
        `bench --vary`, in the order they ran, else its one sweep as series ""."""
        group = self.newest_group(label=label, kind=kind)
        vary = group[0].vary_id if group else None
        if vary is None:
            return [("", group)] if group else []
        sweeps: dict[str, list[BenchRun]] = {}
        for run in reversed(self.recent(label=label, kind=kind, limit=1000)):
            if run.vary_id == vary:
                sweeps.setdefault(run.group_id, []).append(run)
        return [(runs[0].series, sorted(runs, key=_concurrency)) for runs in sweeps.values()]

    def _samples(self, run_id: int) -> list[StreamSample]:
        return [_sample_from_record(record) for record in self._store.bench_requests(run_id)]
