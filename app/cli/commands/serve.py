"""`hostbench serve`: the server alone; models are added later (`launch`, control API)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from app.cli.commands.launch import ConsoleHook
from app.cli.context import CliContext, add_server_address
from app.cli.output import note
from errors import ExitCode
from serving.runner import ServerInfo, run_event_loop, serve


class ServeHook(ConsoleHook):
    """Says when the server listens; with --json, as one line for programs."""

    def listening(self, info: ServerInfo) -> None:
        super().listening(info)
        if self.as_json:
            print(json.dumps({"event": "listening", "url": info.openai_url}), flush=True)


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hostbench serve",
        description="Run the hostbench server in the foreground with no model loaded; "
        "`hostbench launch MODEL` from another shell adds models to it.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line when listening")
    add_server_address(parser)
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    run_event_loop(serve(ctx.settings, ctx.locations, hook=ServeHook(as_json=args.json)))
    note("hostbench server stopped")
    return ExitCode.OK
