"""Bench runs and their requests through the store's typed rows."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from storage import BenchRequestRecord, BenchRunRecord, Store

BENCH_RUN = BenchRunRecord(
    group_id="g1",
    created_at=1_700_000_000.0,
    label="smollm2",
    kind="hostbench",
    concurrency=4,
    request_rate=None,
    num_prompts=1,
    completed=1,
    failed=0,
    output_tok_s=120.5,
    ttft_p50_ms=15.0,
    target={"kind": "hostbench", "base_url": "http://127.0.0.1:8080/v1", "model": "smollm2"},
    prompts={"input_len": 64},
    metrics={"completed": 1, "tpot_ms": {"p50": math.nan}},
    context={"engine": {"catalog_id": "smollm2"}},
    power={"watts": None, "method": "unknown"},
    decode_limit=None,
    prefill={"share": 0.2, "source": "engine timings"},
    base_url="http://127.0.0.1:8080/v1",
    catalog_id="smollm2",
)

BENCH_REQUEST = BenchRequestRecord(
    idx=0,
    sent_offset_s=0.0,
    ok=True,
    ttft_ms=15.0,
    e2e_ms=80.0,
    output_tokens=9,
    prompt_tokens=70,
    tokens_from_usage=True,
    itl_ms=(8.0, 8.5),
    error=None,
    engine_timings={"prompt_ms": 4.0, "predicted_ms": 60.0},
)


def test_a_run_and_its_requests_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.add_bench_run(BENCH_RUN, [BENCH_REQUEST])
    [stored] = store.bench_runs(run_id=run_id)
    assert math.isnan(stored.metrics["tpot_ms"]["p50"])  # NaN survives the JSON column
    assert dataclasses.replace(stored, metrics={}) == dataclasses.replace(
        BENCH_RUN, id=run_id, metrics={}
    )
    assert store.bench_requests(run_id) == [BENCH_REQUEST]


def test_runs_are_filtered_and_newest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    first = store.add_bench_run(BENCH_RUN, [])
    later = dataclasses.replace(BENCH_RUN, created_at=BENCH_RUN.created_at + 60, group_id="g2")
    second = store.add_bench_run(later, [])
    other = store.add_bench_run(dataclasses.replace(later, label="qwen"), [])
    assert [r.id for r in store.bench_runs()] == [other, second, first]
    assert [r.id for r in store.bench_runs(label="smollm2")] == [second, first]
    assert [r.id for r in store.bench_runs(group_id="g2", label="qwen")] == [other]
    assert [r.id for r in store.bench_runs(label="smollm2", limit=1)] == [second]
    assert store.bench_requests(first) == []
