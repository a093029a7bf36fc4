"""`hostbench ps`: what the running server serves."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from app.cli.context import CliContext, add_server_address
from app.cli.exit_codes import ExitCode
from app.cli.output import print_json, print_table
from engines.control_client import ControlClient

COLUMNS = ("name", "model", "engine", "runtime", "state", "port", "pid", "uptime", "restarts")


def _row(status: dict[str, Any]) -> dict[str, Any]:
    ready = status.get("ready_at")
    uptime = f"{time.time() - ready:.0f} s" if ready and status["state"] == "ready" else None
    return {**status, "uptime": uptime}


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="hostbench ps", description="List running engines.")
    parser.add_argument("--json", action="store_true")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    engines = ControlClient(ctx.settings, ctx.locations).engines()
    if args.json:
        print_json(engines)
    else:
        print_table([_row(e) for e in engines], COLUMNS)
    return ExitCode.OK
