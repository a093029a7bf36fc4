"""Tables and JSON for bench runs and comparisons (stdout is data)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from app.cli.output import format_table
from app.display.numbers import num
from bench.comparison import day
from bench.runs import BenchRun


def bound_cells(run: BenchRun) -> tuple[str, str]:
    """(bound tok/s, measured as % of it) for the run's per-stream decode rate."""
    limit, rate = run.decode_limit, run.metrics.decode_tokens_per_s
    if limit is None:
        return "-", "-"
    return num(limit.bound_tokens_per_s), f"{num(limit.percent_of_bound(rate), 0)} %"


def throughput_rows(runs: Sequence[BenchRun]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        m = run.metrics
        bound, share = bound_cells(run)
        rows.append(
            {
                "run": run.id,
                "conc": run.concurrency,
                "ok/sent": f"{m.completed}/{m.completed + m.failed}",
                "seconds": num(m.duration_s),
                "req/s": num(m.request_throughput, 2),
                "out tok/s": num(m.output_throughput),
                "total tok/s": num(m.total_token_throughput),
                "goodput req/s": num(m.goodput, 2) if m.goodput is not None else "-",
                "decode tok/s/stream": num(m.decode_tokens_per_s),
                "bound": bound,
                "of bound": share,
                "watts": num(run.power.watts),
            }
        )
    return rows


THROUGHPUT_COLUMNS = (
    "run",
    "conc",
    "ok/sent",
    "seconds",
    "req/s",
    "out tok/s",
    "total tok/s",
    "goodput req/s",
    "decode tok/s/stream",
    "bound",
    "of bound",
    "watts",
)


def latency_rows(runs: Sequence[BenchRun]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        m = run.metrics
        row: dict[str, Any] = {"run": run.id, "conc": run.concurrency}
        for name, summary in (
            ("ttft", m.ttft_ms),
            ("tpot", m.tpot_ms),
            ("itl", m.itl_ms),
            ("e2e", m.e2e_ms),
        ):
            for q in ("p50", "p90", "p99"):
                row[f"{name} {q}"] = num(summary.get(q))
        rows.append(row)
    return rows


LATENCY_COLUMNS = (
    "run",
    "conc",
    *(f"{name} {q}" for name in ("ttft", "tpot", "itl", "e2e") for q in ("p50", "p90", "p99")),
)


def runs_tables(runs: Sequence[BenchRun]) -> str:
    return "\n".join(
        [
            "Throughput (per second of the run's wall time; decode per stream = 1000 / TPOT p50)",
            format_table(throughput_rows(runs), THROUGHPUT_COLUMNS),
            "",
            "Latency (ms)",
            format_table(latency_rows(runs), LATENCY_COLUMNS),
        ]
    )


def run_notes(runs: Sequence[BenchRun]) -> list[str]:
    """Where the figures come from: tokens, prompts, power, the bound's bandwidth."""
    if not runs:
        return []
    first, notes = runs[0], []
    counted = sum(r.metrics.tokens_from_usage for r in runs)
    completed = sum(r.metrics.completed for r in runs)
    notes.append(
        f"output tokens from the server's usage for {counted}/{completed} requests"
        + ("" if counted == completed else " (the rest: content chunks)")
    )
    notes.append(f"prompts: {describe_prompts(first)}")
    notes.append(f"power: {first.power.source}")
    if first.decode_limit is not None:
        limit = first.decode_limit
        notes.append(
            f"bound = {limit.bandwidth_gbps:g} GB/s ({limit.bandwidth_source}) / "
            f"(weights {limit.weights_bytes / 1e6:.1f} MB + batch x KV "
            f"{limit.kv_bytes_per_stream / 1e6:.2f} MB per stream)"
        )
    errors = sorted({e for r in runs for e in r.metrics.errors})
    notes += [f"error: {e}" for e in errors[:3]]
    return notes


def describe_prompts(run: BenchRun) -> str:
    p, m = run.prompts, run.metrics
    served = m.total_input_tokens / m.completed if m.completed else math.nan
    if p.get("source") == "file":
        what = f"{p.get('num_prompts')} from {p.get('file')}"
    else:
        what = f"{p.get('num_prompts')} x {p.get('input_len')} tokens {p.get('source')}"
    return (
        f"{what}, {p.get('output_len')} tokens out; the server counted "
        f"{num(served, 0)} prompt tokens per request (chat template included)"
    )


def list_rows(runs: Sequence[BenchRun]) -> list[dict[str, Any]]:
    return [
        {
            "run": r.id,
            "when": day(r.created_at),
            "model": r.label,
            "target": "hostbench" if r.kind == "hostbench" else r.target.get("base_url"),
            "engine": engine_cell(r),
            "a/b": ab_cell(r),
            "conc": r.concurrency,
            "ok/sent": f"{r.metrics.completed}/{r.metrics.completed + r.metrics.failed}",
            "out tok/s": num(r.metrics.output_throughput),
            "ttft p50 ms": num(r.metrics.ttft_ms.get("p50")),
            "group": r.group_id,
        }
        for r in runs
    ]


LIST_COLUMNS = (
    "run",
    "when",
    "model",
    "target",
    "engine",
    "a/b",
    "conc",
    "ok/sent",
    "out tok/s",
    "ttft p50 ms",
    "group",
)


def engine_cell(run: BenchRun) -> str | None:
    """`engine/runtime` of a run on our server (None for an endpoint)."""
    engine = run.context.get("engine")
    if not engine:
        return None
    return f"{engine.get('engine')}/{engine.get('runtime')}"


def ab_cell(run: BenchRun) -> str | None:
    """`A 28841efb (llama.cpp)`: the arm and id of the A/B a run belongs to, if any."""
    ab = run.context.get("ab")
    if not ab:
        return None
    return f"{ab.get('arm')} {ab.get('id')} ({ab.get('name')})"


def run_json(run: BenchRun, with_samples: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id,
        "group_id": run.group_id,
        "created_at": run.created_at,
        "label": run.label,
        "target": run.target,
        "concurrency": run.concurrency,
        "request_rate": None if math.isinf(run.request_rate) else run.request_rate,
        "prompts": run.prompts,
        "metrics": run.metrics.as_dict(),
        "power": run.power.as_dict(),
        "decode_limit": run.decode_limit.as_dict() if run.decode_limit else None,
        "prefill": run.prefill,
        "context": run.context,
    }
    if with_samples:
        data["requests"] = [_sample_json(s) for s in run.samples]
    return data


def _sample_json(sample: Any) -> dict[str, Any]:
    timings = sample.engine_timings
    return {
        "sent_offset_s": sample.sent_at_s,
        "ok": sample.ok,
        "ttft_ms": sample.ttft_ms,
        "e2e_ms": sample.e2e_ms,
        "tpot_ms": sample.tpot_ms,
        "output_tokens": sample.output_tokens,
        "prompt_tokens": sample.prompt_tokens,
        "itl_ms": list(sample.itl_ms),
        "error": sample.error,
        "engine_timings": vars(timings) if timings else None,
    }
