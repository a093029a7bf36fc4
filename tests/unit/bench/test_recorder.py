"""The thread that writes request records and engine events to the store."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from bench import RequestRecorder
from storage import EngineEventRecord, RequestRecord, Store
from tests.unit.storage.test_store import record


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


def test_engine_events_wait_for_a_locked_store_on_the_writer_thread(tmp_path: Path) -> None:
    """Another process holds the write lock: queueing an engine event returns at once, and
    the event is written once the lock is released."""
    store = Store(tmp_path / "store.sqlite")
    recorder = RequestRecorder(store)
    locker = sqlite3.connect(store.path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        recorder.submit_event(EngineEventRecord("e", "m", "crashed", 1.0))
        assert time.monotonic() - began < 0.5
        time.sleep(0.5)  # the writer thread is waiting on the lock now
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    recorder.flush()
    assert [e.kind for e in store.engine_events()] == ["crashed"]
    recorder.close()
    store.close()


def _voluntary_switches(thread_id: int) -> int:
    status = Path(f"/proc/self/task/{thread_id}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def test_records_joining_a_batch_do_not_wake_the_writer(tmp_path: Path) -> None:
    """The writer thread sleeps through the linger however many records arrive: a thread
    woken per request would take the GIL from the event loop once per request."""
    store = Store(tmp_path / "s.sqlite")
    recorder = RequestRecorder(store, linger_s=5.0)
    writer = recorder._thread.native_id
    assert writer is not None
    recorder.submit(record(0))
    time.sleep(0.1)  # the writer took the first record and lingers
    before = _voluntary_switches(writer)
    for i in range(1, 100):
        recorder.submit(record(i))
        time.sleep(0.001)
    woken = _voluntary_switches(writer) - before
    recorder.flush()
    assert woken <= 2
    assert len(store.requests(limit=1000)) == 100
    recorder.close()


def test_a_full_batch_is_written_before_the_linger_ends(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    recorder = RequestRecorder(store, batch_size=10, linger_s=60.0)
    for i in range(10):
        recorder.submit(record(i))
    deadline = time.monotonic() + 5
    while len(store.requests(limit=100)) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(store.requests(limit=100)) == 10
    recorder.close()
