"""`hostbench token rotate`: replace the control token."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli.output import note
from control.channel import write_token
from errors import ExitCode
from profiles import Locations


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostbench token",
        description="The control token: whoever can read it controls this machine's hostbench "
        "server (launch and stop engines). It lives in the config dir, mode 0600; the CLI and "
        "the workbench read it there and send it only to a server that proves it knows it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "rotate",
        help="write a new random token (mode 0600); a running server accepts only the new "
        "one from its next request on, and refuses the old one",
        description="Write a new random control token (mode 0600) over the old one. A running "
        "server re-reads the file when it changes: the old token is refused from then on. "
        "Nothing else needs restarting; the CLI and the workbench read the new one.",
    )
    return parser


def run(argv: Sequence[str]) -> int:
    build_parser().parse_args(argv)
    path = Locations.from_env().token_file
    write_token(path)
    note(f"wrote a new control token to {path}; the old one is no longer accepted")
    return ExitCode.OK
