"""The store's schema, as ordered steps (docs/architecture.md, "Where data is stored").

`PRAGMA user_version` counts the steps a file has had; opening it runs the rest. Append a
step for a new table or column, never edit one: a file that had it would not get the change.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


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
