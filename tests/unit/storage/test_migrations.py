"""An old store opens after an upgrade: the missing schema steps run, the rows stay."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from storage import (
    EngineEventRecord,
    LocalModelRecord,
    RequestRecord,
    RequestStatus,
    Store,
    StoreError,
)
from storage.schema import MIGRATIONS
from tests.unit.storage.test_bench_records import BENCH_REQUEST, BENCH_RUN

V1_SCHEMA = """
CREATE TABLE "requests" (
   "id" TEXT PRIMARY KEY,
   "model" TEXT NOT NULL,
   "engine" TEXT NOT NULL,
   "endpoint" TEXT NOT NULL,
   "stream" INTEGER,
   "started_at" REAL NOT NULL,
   "status" TEXT NOT NULL,
   "http_status" INTEGER,
   "ttft_ms" REAL,
   "e2e_ms" REAL,
   "prompt_tokens" INTEGER,
   "completion_tokens" INTEGER,
   "error" TEXT
);
CREATE INDEX "idx_requests_model_started_at" ON "requests" ("model", "started_at");
CREATE TABLE "local_models" (
   "id" TEXT PRIMARY KEY,
   "catalog_id" TEXT,
   "quant" TEXT,
   "path" TEXT NOT NULL,
   "size_bytes" INTEGER,
   "sha256" TEXT NOT NULL,
   "origin" TEXT NOT NULL,
   "added_at" REAL,
   "lineage" TEXT
);
CREATE TABLE "engine_events" (
   "id" INTEGER PRIMARY KEY,
   "engine" TEXT NOT NULL,
   "model" TEXT,
   "kind" TEXT NOT NULL,
   "at" REAL NOT NULL,
   "exit_code" INTEGER,
   "detail" TEXT
);
PRAGMA user_version=1;
"""
"""What the first hostbench wrote (schema step 1), as SQL, so that a later edit of the
step itself cannot make this file look like the current one."""

V1_ROWS = """
INSERT INTO requests VALUES ('r1', 'smollm2', 'llama.cpp', 'chat.completions', 1,
    1700000000.0, 'ok', 200, 12.5, 100.0, 10, 20, NULL);
INSERT INTO requests VALUES ('r2', 'smollm2', 'llama.cpp', 'completions', 0,
    1700000001.0, 'engine_error', 502, NULL, 3.0, NULL, NULL, 'engine died');
INSERT INTO local_models VALUES ('smollm2:Q8_0', 'smollm2', 'Q8_0', '/models/smollm2.gguf',
    145000000, 'ab12', 'pypi:smollm2', 1700000000.0, '{"base": "smollm2"}');
INSERT INTO engine_events VALUES (1, 'smollm2', 'smollm2', 'started', 1700000000.0, NULL, NULL);
INSERT INTO engine_events VALUES (2, 'smollm2', 'smollm2', 'crashed', 1700000005.0, -9, 'oom');
"""


def v1_store(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA + V1_ROWS)
    conn.close()
    return path


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_v1_store_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = v1_store(tmp_path / "old.sqlite")
    store = Store(path)
    assert user_version(path) == len(MIGRATIONS) > 1
    assert [r.id for r in store.requests()] == ["r2", "r1"]
    assert store.requests()[1] == RequestRecord(
        "r1", "smollm2", "llama.cpp", "chat.completions", True, 1_700_000_000.0,
        RequestStatus.OK, 200, 12.5, 100.0, 10, 20,
    )  # fmt: skip
    assert store.requests()[0].error == "engine died"
    assert store.local_models() == [
        LocalModelRecord(
            "smollm2:Q8_0", Path("/models/smollm2.gguf"), "ab12", 145_000_000, "pypi:smollm2",
            "Q8_0", "smollm2", {"base": "smollm2"}, 1_700_000_000.0,
        )
    ]  # fmt: skip
    assert store.engine_events() == [
        EngineEventRecord("smollm2", "smollm2", "crashed", 1_700_000_005.0, -9, "oom", id=2),
        EngineEventRecord("smollm2", "smollm2", "started", 1_700_000_000.0, id=1),
    ]


def test_a_migrated_store_takes_new_rows_in_old_and_new_tables(tmp_path: Path) -> None:
    path = v1_store(tmp_path / "old.sqlite")
    Store(path).close()
    store = Store(path)  # reopening runs nothing more
    assert user_version(path) == len(MIGRATIONS)
    store.add_engine_event(EngineEventRecord("e", "m", "ready", 2.0))
    assert [e.id for e in store.engine_events()] == [3, 2, 1]
    store.put_local_model(LocalModelRecord("new", Path("/models/new.gguf"), "cd34", 1, "file"))
    assert [m.id for m in store.local_models()] == ["new", "smollm2:Q8_0"]
    run = dataclasses.replace(BENCH_RUN, metrics={"completed": 1})  # no NaN: compared with ==
    run_id = store.add_bench_run(run, [BENCH_REQUEST])
    assert store.bench_runs() == [dataclasses.replace(run, id=run_id)]
    assert store.bench_requests(run_id) == [BENCH_REQUEST]


def test_a_store_from_a_newer_hostbench_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).db.execute("PRAGMA user_version=999")
    with pytest.raises(StoreError, match="schema 999"):
        Store(path)
