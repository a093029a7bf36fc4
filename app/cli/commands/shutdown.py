"""`hostbench shutdown`: stop the hostbench server itself (and with it every engine), e.g.
the one the workbench keeps running in the background after it quits."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.context import CliContext, add_server_address
from app.cli.output import note
from errors import ExitCode


def run(argv: Sequence[str]) -> int:
    from serving.shutdown import stop_server

    parser = argparse.ArgumentParser(
        prog="hostbench shutdown",
        description="Stop the hostbench server on the configured port as Ctrl-C would: "
        "requests in flight finish, then its engines stop. `hostbench stop NAME` stops one "
        "engine and leaves the server running.",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for it to exit (default 60)"
    )
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    pid = stop_server(ctx.settings, ctx.locations, args.timeout)
    note(f"hostbench server (pid {pid}) stopped")
    return ExitCode.OK
