"""Writes request records and engine events from a background thread, so the event loop
never waits on disk (a locked or slow store would otherwise stall serving)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from storage import EngineEventRecord, RequestRecord, Store

log = logging.getLogger(__name__)

_STOP = object()


class RequestRecorder:
    """Queue records now, write them in batches; `close()` flushes what is queued.

    A batch waits up to `linger_s` for company before it is written (a flush or a full
    batch writes at once): one write per second of steady traffic instead of one per
    request, so the writer thread rarely competes with the event loop for the GIL while a
    request is being relayed. Readers through the server flush first.

    `listeners` see each record as it is submitted, on the submitting thread (the live
    metrics); they must be quick, and one that fails is logged, never propagated."""

    def __init__(
        self,
        store: Store,
        batch_size: int = 256,
        listeners: Sequence[Callable[[RequestRecord], None]] = (),
        linger_s: float = 1.0,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._listeners = tuple(listeners)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._due = threading.Event()
        """Set when what is queued must be written now, not at the linger's end."""
        self._thread = threading.Thread(target=self._run, name="request-recorder", daemon=True)
        self._thread.start()

    def submit(self, record: RequestRecord) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception("request listener %r failed", listener)
        self._queue.put(record)
        if self._queue.qsize() >= self._batch_size:
            self._due.set()

    def submit_event(self, event: EngineEventRecord) -> None:
        """Queue an engine event (the supervisor's); written at once, in order with the
        records before it (events are rare, and readers expect to see them)."""
        self._queue.put(event)
        self._due.set()

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._due.set()
        self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted so far is on disk."""
        done = threading.Event()
        self._queue.put(done)
        self._due.set()
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            batch, markers, stop = self._take_batch()
            self._write(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _take_batch(self) -> tuple[list[object], list[threading.Event], bool]:
        """Everything queued once the linger ends after the first item, or sooner when
        `_due` says a flush, an event, a stop or a full batch is waiting.

        Records that join a batch do not wake this thread (the queue wakes it for the
        first one only): a writer woken for every request would take the GIL from the
        event loop once per request, often while the next one is being relayed."""
        first = self._queue.get()
        if first is not _STOP and not isinstance(first, threading.Event | EngineEventRecord):
            self._due.wait(self._linger_s)
        self._due.clear()
        batch: list[object] = []
        markers: list[threading.Event] = []
        item: object = first
        while True:
            if item is _STOP:
                return batch, markers, True
            if isinstance(item, threading.Event):
                markers.append(item)
            else:
                batch.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, markers, False

    def _write(self, batch: list[object]) -> None:
        records = [item for item in batch if isinstance(item, RequestRecord)]
        events = [item for item in batch if isinstance(item, EngineEventRecord)]
        try:
            if records:
                self._store.add_requests(records)
            for event in events:
                self._store.add_engine_event(event)
        except Exception:
            log.exception("could not record %d item(s) in %s", len(batch), self._store.path)
