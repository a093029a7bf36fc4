"""`hostbench serve`: the server alone; models are added later (`launch`, control API)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.commands.launch import ConsoleHook
from app.cli.context import CliContext, add_server_address
from app.cli.exit_codes import ExitCode
from app.cli.output import note
from engines.server.runner import run_event_loop, serve


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench serve",
        description="Run the hostbench server in the foreground with no model loaded; "
        "`hostbench launch MODEL` from another shell adds models to it.",
    )
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    run_event_loop(serve(ctx.settings, ctx.locations, hook=ConsoleHook(as_json=False)))
    note("hostbench server stopped")
    return ExitCode.OK
