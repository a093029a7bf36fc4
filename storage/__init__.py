"""The SQLite store: one file per hostbench home, its schema and migrations, and the typed
reads and writes every layer uses (docs/architecture.md, "Where data is stored").

The bottom layer: it imports nothing else from the project. Public surface: `Store`,
`StoreError`, and the stored record types `RequestRecord`, `RequestStatus`,
`EngineEventRecord`, `LocalModelRecord`, `BenchRunRecord`, `BenchRequestRecord`.
"""

from storage.bench_records import BenchRequestRecord, BenchRunRecord
from storage.records import EngineEventRecord, LocalModelRecord, RequestRecord, RequestStatus
from storage.store import Store, StoreError

__all__ = [
    "BenchRequestRecord",
    "BenchRunRecord",
    "EngineEventRecord",
    "LocalModelRecord",
    "RequestRecord",
    "RequestStatus",
    "Store",
    "StoreError",
]
