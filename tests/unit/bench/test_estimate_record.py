"""`hostbench fit`'s error band: read back from stored bench records, one per launch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.estimate_record import estimate_record
from bench.runs import BenchRun, BenchRuns
from storage import Store
from tests.unit.bench.test_runs import make_run

MIB = 1 << 20


def _with_memory(concurrency: int, estimate_mib: int, measured_mib: int, error: float) -> BenchRun:
    run = make_run(concurrency=concurrency)
    memory = {
        "estimate_bytes": estimate_mib * MIB,
        "measured_bytes": measured_mib * MIB,
        "error_percent": error,
    }
    engine = {**run.context["engine"], "memory": memory}
    return dataclasses.replace(run, context={**run.context, "engine": engine})


def test_the_band_counts_each_launch_once_from_the_stored_runs(tmp_path: Path) -> None:
    runs = BenchRuns(Store(tmp_path / "store.sqlite"))
    for concurrency in (1, 4, 8):  # one sweep of one launch: one figure
        runs.add(_with_memory(concurrency, 601, 492, 22.3))
    runs.add(_with_memory(1, 829, 798, 3.9))
    runs.add(make_run())  # stored before runs recorded memory: left out
    record = estimate_record(runs.recent(limit=100))
    assert sorted(record.errors_percent) == [3.9, 22.3]
    assert record.text().startswith("+3.9 to +22.3 % of what the engine held, over 2 launch")


def test_no_record_says_how_to_get_one() -> None:
    assert "not measured on this machine yet" in estimate_record([]).text()
