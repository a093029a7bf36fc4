"""`hostbench restart NAME`: stop one engine of the running server and start it again with
the options it runs with (secret options included: the server keeps them); a sleeping
engine starts now instead of at its next request."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext, add_server_address
from app.cli.output import note
from control.client import ControlClient
from errors import ExitCode


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench restart",
        description="Restart an engine of the running server with the options it runs with "
        "(a sleeping one starts now).",
    )
    parser.add_argument("name", help="served model name (see `hostbench ps`)")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    status = ControlClient(ctx.settings, ctx.locations).restart(args.name)
    note(f"restarted {status.name} (pid {status.pid})")
    return ExitCode.OK
