"""`hostbench ps`: what the running server serves, what it offers on demand, and what it
unloaded lately and why."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from app.cli.context import CliContext, add_server_address
from app.cli.output import print_json, print_table
from app.display.numbers import human_bytes
from control.api import EngineStatus, PoolStatus
from control.client import ControlClient, ControlError
from errors import ExitCode

COLUMNS = (
    "name", "model", "engine", "runtime", "state", "loaded", "memory", "measured", "busy",
    "idle", "port", "pid", "uptime", "restarts",
)  # fmt: skip
HISTORY_COLUMNS = ("when", "event", "name", "memory", "reason")


def _ago(moment: float | None) -> str | None:
    return None if moment is None else f"{time.time() - moment:.0f} s"


def _row(status: EngineStatus) -> dict[str, Any]:
    ready = status.ready_at
    uptime = _ago(ready) if ready and status.state == "ready" else None
    return {
        **status.model_dump(),
        "uptime": uptime,
        "loaded": "on demand" if status.on_demand else "launched",
        "memory": human_bytes(status.memory_bytes),
        "measured": _measured(status),
        "busy": f"{status.in_flight}+{status.queued}q",
        "idle": _ago(status.last_used_at) if status.in_flight == 0 else None,
    }


def _measured(status: EngineStatus) -> str | None:
    """What the engine holds, with the estimate's error: `188.2 MiB (+5.8 %)`."""
    actual = status.memory_measured_bytes
    if actual is None:
        return None
    error = status.memory_error_percent
    return human_bytes(actual) + ("" if error is None else f" ({error:+.1f} %)")


def _pool(client: ControlClient) -> PoolStatus | None:
    """The pool's state; None from a server that predates it."""
    try:
        return client.pool()
    except ControlError as error:
        if error.status == 404:
            return None
        raise


def _print_pool(pool: PoolStatus) -> None:
    used = human_bytes(pool.used_bytes)
    shown = f"{used} of {human_bytes(pool.budget_bytes)}" if pool.budget_bytes else used
    print(f"\nmemory: {shown} ({pool.budget_basis})")
    waiting = [offer.name for offer in pool.offered if not offer.loaded]
    if pool.offered:
        print(f"offered on demand, not loaded: {', '.join(waiting) or 'none'}")
    if pool.history:
        rows = [
            {**h.model_dump(), "when": f"{_ago(h.at)} ago", "memory": human_bytes(h.memory_bytes)}
            for h in reversed(pool.history[-10:])
        ]
        print()
        print_table(rows, HISTORY_COLUMNS)


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench ps",
        description="List engines (busy = in flight + queued), the memory budget, models "
        "offered on demand, and recent loads, evictions and unloads with their reasons.",
    )
    parser.add_argument("--json", action="store_true", help="engines as JSON (a list)")
    parser.add_argument("--pool", action="store_true", help="with --json: the pool instead")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    client = ctx.server()
    if args.json and args.pool:
        pool = _pool(client)
        print_json(pool.model_dump(mode="json") if pool else None)
        return ExitCode.OK
    engines = client.engines()
    if args.json:
        print_json([engine.model_dump(mode="json") for engine in engines])
        return ExitCode.OK
    print_table([_row(e) for e in engines], COLUMNS)
    pool = _pool(client)
    if pool is not None:
        _print_pool(pool)
    return ExitCode.OK
