"""The SQLite store: schema, transactions, and several writers at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from bench import RequestRecord, RequestRecorder, RequestStatus, Store, StoreError


def record(i: int, model: str = "m") -> RequestRecord:
    return RequestRecord(
        id=f"r{i}",
        model=model,
        engine="llama.cpp",
        endpoint="chat.completions",
        stream=True,
        started_at=1_700_000_000.0 + i,
        status=RequestStatus.OK,
        http_status=200,
        ttft_ms=12.5,
        e2e_ms=100.0,
        prompt_tokens=10,
        completion_tokens=20,
    )


def test_records_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.add_requests([record(1), record(2, model="other")])
    assert [r.id for r in store.requests(model="other")] == ["r2"]
    assert store.requests(model="m") == [record(1)]


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db["requests"].insert(record(1).as_row())
        raise RuntimeError("crash in the middle")
    assert store.requests() == []


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).db.execute("PRAGMA user_version=999")
    with pytest.raises(StoreError, match="schema 999"):
        Store(path)


def test_recorder_flushes_in_background(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    recorder = RequestRecorder(store)
    for i in range(200):
        recorder.submit(record(i))
    recorder.close()
    assert len(store.requests(limit=1000)) == 200


def test_recorder_batches_what_arrives_within_the_linger(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    writes: list[int] = []
    original = store.add_requests

    def counted(records: Iterable[RequestRecord]) -> int:
        written = original(records)
        writes.append(written)
        return written

    store.add_requests = counted  # type: ignore[method-assign]
    recorder = RequestRecorder(store, linger_s=0.5)
    for i in range(5):
        recorder.submit(record(i))
        time.sleep(0.02)
    recorder.flush()
    assert writes == [5]
    assert len(store.requests()) == 5
    recorder.close()


def test_recorder_writes_after_the_linger_without_a_flush(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    recorder = RequestRecorder(store, linger_s=0.05)
    recorder.submit(record(1))
    deadline = time.monotonic() + 5
    while not store.requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.id for r in store.requests()] == ["r1"]
    recorder.close()


def test_a_record_replaces_the_one_with_its_id(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.add_requests([record(1)])
    store.add_requests([dataclasses.replace(record(1), status=RequestStatus.ENGINE_ERROR)])
    assert [r.status for r in store.requests()] == [RequestStatus.ENGINE_ERROR]


WRITER = """
import sys, time
from pathlib import Path
from bench import RequestRecord, RequestStatus, Store
store = Store(Path(sys.argv[1]))
for i in range(150):
    store.add_requests([RequestRecord(f"{sys.argv[2]}-{i}", "m", "e", "chat", False, time.time(),
                                      RequestStatus.OK, 200)])
"""


def test_concurrent_processes_do_not_lose_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name])
        for name in ("a", "b", "c")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    assert len(Store(path).requests(limit=10_000)) == 450
