"""`hostbench stop NAME`: stop one engine of the running server."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext, add_server_address
from app.cli.output import note
from errors import ExitCode


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="hostbench stop", description="Stop an engine.")
    parser.add_argument("name", help="served model name (see `hostbench ps`)")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    status = ctx.server().stop(args.name)
    note(f"stopped {status.name} (exit code {status.last_exit_code})")
    return ExitCode.OK
