"""The SQLite store shared by every front end of one hostbench home.

WAL mode and a busy timeout let the server, the CLI and the TUI use one file at once; every
write is one transaction, so a crash leaves either the whole record or none of it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from bench.records import RequestRecord


class StoreError(RuntimeError):
    """The store file cannot be opened or is from a newer hostbench."""


def _create_v1(db: sqlite_utils.Database) -> None:
    db.table("requests").create(
        {
            "id": str,
            "model": str,
            "engine": str,
            "endpoint": str,
            "stream": int,
            "started_at": float,
            "status": str,
            "http_status": int,
            "ttft_ms": float,
            "e2e_ms": float,
            "prompt_tokens": int,
            "completion_tokens": int,
            "error": str,
        },
        pk="id",
        not_null={"model", "engine", "endpoint", "started_at", "status"},
    )
    db.table("requests").create_index(["model", "started_at"])
    db.table("local_models").create(
        {
            "id": str,
            "catalog_id": str,
            "quant": str,
            "path": str,
            "size_bytes": int,
            "sha256": str,
            "origin": str,
            "added_at": float,
            "lineage": str,
        },
        pk="id",
        not_null={"path", "sha256", "origin"},
    )
    db.table("engine_events").create(
        {
            "id": int,
            "engine": str,
            "model": str,
            "kind": str,
            "at": float,
            "exit_code": int,
            "detail": str,
        },
        pk="id",
        not_null={"engine", "kind", "at"},
    )


def _create_v2_bench_runs(db: sqlite_utils.Database) -> None:
    """Bench runs (one row per concurrency level, JSON context) and their requests."""
    db.table("bench_runs").create(
        {
            "id": int,
            "group_id": str,
            "created_at": float,
            "label": str,
            "kind": str,
            "base_url": str,
            "catalog_id": str,
            "concurrency": int,
            "request_rate": float,
            "num_prompts": int,
            "completed": int,
            "failed": int,
            "output_tok_s": float,
            "ttft_p50_ms": float,
            "target": str,
            "prompts": str,
            "metrics": str,
            "context": str,
            "power": str,
            "decode_limit": str,
            "prefill": str,
        },
        pk="id",
        not_null={"group_id", "created_at", "label", "kind", "concurrency"},
    )
    db.table("bench_runs").create_index(["label", "created_at"])
    db.table("bench_requests").create(
        {
            "run_id": int,
            "idx": int,
            "sent_offset_s": float,
            "ok": int,
            "ttft_ms": float,
            "e2e_ms": float,
            "output_tokens": int,
            "prompt_tokens": int,
            "tokens_from_usage": int,
            "itl_ms": str,
            "error": str,
            "engine_timings": str,
        },
        pk=("run_id", "idx"),
        foreign_keys=[("run_id", "bench_runs", "id")],
    )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _create_v1,
    _create_v2_bench_runs,
)
"""Schema steps; the store's PRAGMA user_version counts how many have run."""


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the store {path}: {error}") from error
    return conn


class Store:
    """Typed reads and writes over the store file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = connect(path)
        self.db = sqlite_utils.Database(self._conn)
        self._migrate()

    def _migrate(self) -> None:
        with self.transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema {version}; this hostbench knows {len(MIGRATIONS)}"
                )
            for step in MIGRATIONS[version:]:
                step(self.db)
            self._conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite_utils.Database]:
        """Reads share the connection; the lock keeps threads from interleaving on it."""
        with self._lock:
            yield self.db

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # requests --------------------------------------------------------------------------

    def add_requests(self, records: Iterable[RequestRecord]) -> int:
        """One prepared INSERT for the batch: the server writes these beside live traffic,
        and sqlite-utils' insert_all re-reads the table's schema on every call."""
        rows = [record.as_row() for record in records]
        if rows:
            columns = list(rows[0])
            names, marks = ", ".join(columns), ", ".join("?" * len(columns))
            sql = f"INSERT OR REPLACE INTO requests ({names}) VALUES ({marks})"
            with self.transaction():
                self._conn.executemany(sql, [tuple(row[c] for c in columns) for row in rows])
        return len(rows)

    def requests(self, model: str | None = None, limit: int = 1000) -> list[RequestRecord]:
        where, params = ("model = ?", [model]) if model else (None, [])
        with self._lock:
            rows = self.db.table("requests").rows_where(
                where, params, order_by="started_at desc", limit=limit
            )
            return [RequestRecord.from_row(row) for row in rows]

    # engine events ----------------------------------------------------------------------

    def add_engine_event(self, row: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.table("engine_events").insert(row)

    def engine_events(self, engine: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        where, params = ("engine = ?", [engine]) if engine else (None, [])
        with self._lock:
            rows = self.db.table("engine_events").rows_where(
                where, params, order_by="id desc", limit=limit
            )
            return list(rows)

    # local models -----------------------------------------------------------------------

    def put_local_model(self, row: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.table("local_models").insert({**row, "added_at": time.time()}, pk="id", replace=True)

    def local_models(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.table("local_models").rows_where(order_by="id"))

    def remove_local_model(self, model_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM local_models WHERE id = ?", [model_id])
            return cursor.rowcount > 0
