"""`hostbench ps`: what the running server serves, what it offers on demand, and what it
unloaded lately and why."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from app.cli.context import CliContext, add_server_address
from app.cli.exit_codes import ExitCode
from app.cli.output import human_bytes, print_json, print_table
from engines.control_client import ControlClient, ControlError

COLUMNS = (
    "name", "model", "engine", "runtime", "state", "loaded", "memory", "busy", "idle",
    "port", "pid", "uptime", "restarts",
)  # fmt: skip
HISTORY_COLUMNS = ("when", "event", "name", "memory", "reason")


def _ago(moment: float | None) -> str | None:
    return None if moment is None else f"{time.time() - moment:.0f} s"


def _row(status: dict[str, Any]) -> dict[str, Any]:
    ready = status.get("ready_at")
    uptime = _ago(ready) if ready and status["state"] == "ready" else None
    busy = f"{status.get('in_flight', 0)}+{status.get('queued', 0)}q"
    return {
        **status,
        "uptime": uptime,
        "loaded": "on demand" if status.get("on_demand") else "launched",
        "memory": human_bytes(status.get("memory_bytes")),
        "busy": busy,
        "idle": _ago(status.get("last_used_at")) if status.get("in_flight") == 0 else None,
    }


def _pool(client: ControlClient) -> dict[str, Any] | None:
    """The pool's state; None from a server that predates it."""
    try:
        return dict(client.request("GET", "/api/pool"))
    except ControlError as error:
        if error.status == 404:
            return None
        raise


def _print_pool(pool: dict[str, Any]) -> None:
    budget = pool.get("budget_bytes")
    used = human_bytes(pool["used_bytes"])
    shown = f"{used} of {human_bytes(budget)}" if budget else used
    print(f"\nmemory: {shown} ({pool['budget_basis']})")
    waiting = [o["name"] for o in pool["offered"] if not o["loaded"]]
    if pool["offered"]:
        print(f"offered on demand, not loaded: {', '.join(waiting) or 'none'}")
    if pool["history"]:
        rows = [
            {**h, "when": f"{_ago(h['at'])} ago", "memory": human_bytes(h["memory_bytes"])}
            for h in reversed(pool["history"][-10:])
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
    client = ControlClient(ctx.settings, ctx.locations)
    engines = client.engines()
    if args.json:
        print_json(_pool(client) if args.pool else engines)
        return ExitCode.OK
    print_table([_row(e) for e in engines], COLUMNS)
    pool = _pool(client)
    if pool is not None:
        _print_pool(pool)
    return ExitCode.OK
