"""Measuring: request records, the SQLite store, load generation and cost."""

from bench.recorder import RequestRecorder
from bench.records import RequestRecord, RequestStatus
from bench.store import Store, StoreError

__all__ = ["RequestRecord", "RequestRecorder", "RequestStatus", "Store", "StoreError"]
