"""The SQLite store shared by every front end of one hostbench home.

WAL mode and a busy timeout let the server, the CLI and the TUI use one file at once; every
write is one transaction, so a crash leaves either the whole record or none of it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from errors import HostbenchError
from storage.bench_records import BenchRequestRecord, BenchRunRecord
from storage.records import EngineEventRecord, LocalModelRecord, RequestRecord
from storage.schema import MIGRATIONS


class StoreError(HostbenchError, RuntimeError):
    """The store file cannot be opened or is from a newer hostbench."""


BUSY_TIMEOUT_S = 10.0
"""How long an open or a write waits for another process's lock before giving up."""


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        _enter_wal(conn)
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the store {path}: {error}") from error
    return conn


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL, retrying while another process does the same.

    Two processes that open a fresh store at once both take a shared lock and then ask
    for an exclusive one; SQLite answers one of them "database is locked" at once, without
    waiting (its deadlock rule), so the busy timeout does not cover this step. Measured:
    3 processes opening one new file 200 times failed in 69 rounds before this loop.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


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

    def add_engine_event(self, event: EngineEventRecord) -> None:
        row = event.as_row()
        if row["id"] is None:
            del row["id"]  # the table numbers events
        with self.transaction() as db:
            db.table("engine_events").insert(row)

    def engine_events(self, engine: str | None = None, limit: int = 100) -> list[EngineEventRecord]:
        """Newest first."""
        where, params = ("engine = ?", [engine]) if engine else (None, [])
        with self._lock:
            rows = self.db.table("engine_events").rows_where(
                where, params, order_by="id desc", limit=limit
            )
            return [EngineEventRecord.from_row(row) for row in rows]

    # local models -----------------------------------------------------------------------

    def put_local_model(self, model: LocalModelRecord) -> None:
        """Add the model, or replace the one with its id; `added_at` is now."""
        row = {**model.as_row(), "added_at": time.time()}
        with self.transaction() as db:
            db.table("local_models").insert(row, pk="id", replace=True)

    def local_models(self) -> list[LocalModelRecord]:
        with self._lock:
            rows = self.db.table("local_models").rows_where(order_by="id")
            return [LocalModelRecord.from_row(row) for row in rows]

    def remove_local_model(self, model_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM local_models WHERE id = ?", [model_id])
            return cursor.rowcount > 0

    # bench runs -------------------------------------------------------------------------

    def add_bench_run(self, run: BenchRunRecord, requests: Sequence[BenchRequestRecord]) -> int:
        """The run and its requests in one transaction; returns the run's id."""
        with self.transaction() as db:
            table = db.table("bench_runs")
            table.insert(run.as_row())
            run_id = table.last_rowid
            if run_id is None:
                raise StoreError(f"{self.path}: the bench run was not given an id")
            rows = [request.as_row(run_id) for request in requests]
            if rows:
                db.table("bench_requests").insert_all(rows)
        return run_id

    def bench_runs(
        self,
        *,
        run_id: int | None = None,
        label: str | None = None,
        kind: str | None = None,
        group_id: str | None = None,
        limit: int = 50,
    ) -> list[BenchRunRecord]:
        """Runs matching every filter given, newest first."""
        filters = {"id": run_id, "label": label, "kind": kind, "group_id": group_id}
        wanted = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in wanted) or None
        with self._lock:
            rows = self.db.table("bench_runs").rows_where(
                where, list(wanted.values()), order_by="created_at desc, id desc", limit=limit
            )
            return [BenchRunRecord.from_row(row) for row in rows]

    def bench_requests(self, run_id: int) -> list[BenchRequestRecord]:
        """A run's requests, in the order they were sent."""
        with self._lock:
            rows = self.db.table("bench_requests").rows_where(
                "run_id = ?", [run_id], order_by="idx"
            )
            return [BenchRequestRecord.from_row(row) for row in rows]
